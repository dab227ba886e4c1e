"""A class on a real JupyterHub: an instructor, a TA and two students, a second course beside it.

The whole cycle, as in the README's "Run a class on JupyterHub": create-class
(accounts, groups, exchange, each role's config) for the course with a TA and for
a second course, doctor, the hub on 127.0.0.1, exchange-release; each student's
server started through the hub's REST API, the assignment fetched and submitted
through the server's nbgrader handlers (alice correct, bob with the named mistake
``sign_flip``).  The TA collects and autogrades through the course's formgrader,
a hub service, with a token of their own; a student gets 403 from it, and the
second course's service and exchange stay closed to the first course's students
(and the other way round).  In Chromium: the instructor opens the formgrader from
the Course List, sees the assignment and both submissions and writes a comment,
which ends up in alice's feedback; a student sees only the student tools in
JupyterLab's DOM and submits from the Assignment List; the feedback opens with
its formulas rendered.  Isolation checks run as the other student's account.

Accounts are created with useradd and removed at the end; the hub and every
process it started are stopped in a ``finally``.  Skipped, with the reason, only
where accounts cannot be created (not root, no useradd).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hub_support import (  # noqa: E402
    ASSIGNMENT, COURSE, ENV_PREFIX, PROXY, REPO, SECOND, Class, why_no_accounts)

MISTAKE = "sign_flip"

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.timeout(1500)]


def _set_up_tools() -> None:
    from autograder.classroom.provision import provision_environment

    provision_environment(ENV_PREFIX, Path(sys.prefix), quiet=True)
    if not PROXY.exists():
        subprocess.run(["npm", "install", "--prefix", str(ENV_PREFIX / "proxy"), "--no-audit", "--no-fund",
                        "configurable-http-proxy@4"], check=True, capture_output=True, timeout=300)


def _notebook(variant_name: str | None) -> str:
    import nbformat

    from autograder.demo.catalogue import class_variants
    from autograder.demo.synthetic import Variant, build_student

    source = nbformat.read(REPO / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    variant = Variant("correct", "the solution")
    if variant_name:
        variant = next(v for v in class_variants(ASSIGNMENT) if MISTAKE in v.mistakes)
    return build_student(source, source, variant)


def _denied(klass: Class, user: str, *args: str) -> subprocess.CompletedProcess:
    done = klass.as_user(user, list(args), check=False)
    assert done.returncode != 0, f"as {user}, `{' '.join(args)}` succeeded: {done.stdout[:500]}"
    return done


@pytest.fixture(scope="module")
def hub_class():
    why = why_no_accounts()
    if why:
        print(f"\nSKIPPED test_hub: {why}")
        pytest.skip(why)
    # Not pytest's tmp_path: that is mode 0700 under root's tmp; the students must reach the exchange.
    tmp = Path(tempfile.mkdtemp(prefix="gd-hub-", dir="/tmp"))
    os.chmod(tmp, 0o755)
    klass = Class(tmp)
    try:
        started = time.monotonic()
        _set_up_tools()
        print(f"\nprovision-env (or its no-op check): {time.monotonic() - started:.1f} s")
        yield klass
    finally:
        klass.stop()
        klass.remove_accounts()
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_class_on_jupyterhub(hub_class: Class):
    from hub_browser import instructor_grades_in_formgrader, student_tools_and_submit

    k = hub_class
    started = time.monotonic()
    roster = k.tmp / "roster.csv"
    roster.write_text(f"id,first_name,last_name\n{k.alice},Alice,A\n{k.bob},Bob,B\n")
    roster2 = k.tmp / "roster2.csv"
    roster2.write_text(f"id\n{k.carol}\n")
    # -- the instructor's set-up, as in the README (root): a course with a TA, and a second course --
    made = k.create_class(str(roster), "--instructor", k.instructor, "--graders", k.ta, "--exchange",
                          str(k.exchange), "--jupyter-config-dir", str(k.config_dir), "--class-file", str(k.class_file))
    assert f"/services/{COURSE}/" in made and k.ta in made, made
    k.create_class(str(roster2), "--instructor", k.instructor2, "--course-id", SECOND, "--exchange", str(k.exchange2),
                   "--jupyter-config-dir", str(k.config_dir2), "--class-file", str(k.class_file2))
    for class_file in (k.class_file, k.class_file2):
        doctor = k.doctor(class_file)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    instructor = k.instructor
    assert f"sandbox: ready as {instructor}" in k.doctor().stdout  # checked as the account that grades

    hub_started = time.monotonic()
    k.start_hub()
    print(f"\nhub up in {time.monotonic() - hub_started:.1f} s")
    services = k.api("GET", "/hub/api/services").json()
    assert {COURSE, SECOND, "idle-culler"} <= set(services), services
    for name in (COURSE, SECOND, "idle-culler"):  # managed services: started by the hub, running
        pid = services[name].get("pid")
        assert pid and Path(f"/proc/{pid}").exists(), (name, services[name])
    assert pwd.getpwuid(os.stat(f"/proc/{services[COURSE]['pid']}").st_uid).pw_name == k.instructor
    k.instructor_cli("exchange-release", ASSIGNMENT)
    k.instructor_cli("exchange-release", ASSIGNMENT, second=True)

    # -- students: servers through the REST API, fetch + submit through nbgrader's handlers --
    for user in (k.alice, k.bob):
        spawn = time.monotonic()
        k.start_server(user)
        print(f"{user}'s server: {time.monotonic() - spawn:.1f} s")
        listed = k.user_api(user, "GET", "assignments", params={"course_id": COURSE}).json()
        assert any(a["assignment_id"] == ASSIGNMENT for a in listed["value"]), listed
        assert all(a["course_id"] == COURSE for a in listed["value"]), listed  # nothing of the second course
        k.nbgrader(user, "fetch")
    for user, variant in ((k.alice, None), (k.bob, MISTAKE)):
        path = f"api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
        model = {"type": "notebook", "format": "json", "content": json.loads(_notebook(variant))}
        r = k.user_api(user, "PUT", path, json=model)
        assert r.status_code in (200, 201), r.text[:1000]
        k.nbgrader(user, "submit")

    # -- each role's JupyterLab settings: the news prompt off; students' HTML (the feedback) trusted --
    settings = k.user_api(k.alice, "GET", "lab/api/settings/@jupyterlab/apputils-extension:notification").json()
    assert settings["schema"]["properties"]["fetchNews"]["default"] == "false", settings["schema"]["properties"]
    viewer = k.user_api(k.alice, "GET", "lab/api/settings/@jupyterlab/htmlviewer-extension:plugin").json()
    assert viewer["schema"]["properties"]["trustByDefault"]["default"] is True

    # -- isolation, as the other student -----------------------------------------------
    inbound = k.exchange / COURSE / "inbound"
    alice_sub = next(p for p in inbound.iterdir() if p.name.startswith(f"{k.alice}+"))
    _denied(k, k.bob, "ls", str(inbound))                                          # cannot list
    _denied(k, k.bob, "cat", str(alice_sub / f"{ASSIGNMENT}.ipynb"))                # cannot read by name
    _denied(k, k.bob, "ls", str(alice_sub))
    _denied(k, k.bob, "touch", str(alice_sub / "x"))                                 # cannot write in it
    _denied(k, k.bob, "mv", str(alice_sub), str(inbound / f"{k.alice}+gone"))        # cannot rename it away
    _denied(k, k.bob, "ls", str(k.course_root))                                      # instructor's root
    _denied(k, k.bob, "cat", str(k.course_root / "gradebook.db"))
    _denied(k, k.bob, "ls", pwd.getpwnam(k.alice).pw_dir)                            # alice's home
    # the second course: its exchange folder and its formgrader closed to the first course's students
    _denied(k, k.alice, "ls", str(k.exchange2 / SECOND / "outbound"))
    _denied(k, k.carol, "ls", str(k.exchange / COURSE / "outbound"))
    k.as_user(k.carol, ["ls", str(k.exchange2 / SECOND / "outbound" / ASSIGNMENT)])  # ...open to its own
    tokens = {user: k.user_token(user) for user in (k.alice, k.carol, k.ta, k.instructor2)}
    k.wait_for_service(COURSE, tokens[k.ta])
    for user, course in ((k.alice, COURSE), (k.alice, SECOND), (k.carol, COURSE), (k.instructor2, COURSE),
                         (k.ta, SECOND)):
        r = k.as_token(tokens[user], "GET", f"/services/{course}/formgrader/api/assignments")
        assert r.status_code == 403, f"{user} -> {course}'s formgrader: {r.status_code} {r.text[:300]}"
    # submit as alice: nbgrader accepts --student, the strict collect must not
    time.sleep(1.1)  # a later timestamp than alice's own: nbgrader would take it
    forged = k.as_user(k.bob, [str(k.python.parent / "nbgrader"), "submit", ASSIGNMENT, "--student", k.alice,
                               "--course", COURSE], check=False, cwd=pwd.getpwnam(k.bob).pw_dir)
    assert forged.returncode == 0, forged.stderr  # nbgrader itself lets it through...

    # -- the TA, through the course's formgrader service: collect, autograde ------------------
    ta = tokens[k.ta]
    fg = f"/services/{COURSE}/formgrader/api"
    r = k.as_token(ta, "POST", f"{fg}/assignment/{ASSIGNMENT}/collect", timeout=300)
    assert r.status_code == 200 and r.json()["success"], r.text[:3000]
    assert "Not collected" in r.json()["log"] and k.bob in r.json()["log"], r.json()["log"]  # ...collect does not
    for student in (k.alice, k.bob):
        graded = time.monotonic()
        r = k.as_token(ta, "POST", f"{fg}/submission/{ASSIGNMENT}/{student}/autograde", timeout=600)
        assert r.status_code == 200 and r.json()["success"], r.text[-3000:]
        print(f"TA autograde of {student} through the formgrader: {time.monotonic() - graded:.1f} s")
    submissions = {s["student"]: s for s in k.as_token(ta, "GET", f"{fg}/submissions/{ASSIGNMENT}").json()}
    assert set(submissions) == {k.alice, k.bob}, submissions
    assert submissions[k.alice]["score"] == submissions[k.alice]["max_score"] > 0, submissions[k.alice]
    assert submissions[k.bob]["score"] < submissions[k.bob]["max_score"], submissions[k.bob]

    # -- the instructor, in Chromium: Course List -> the formgrader service -> a comment ------
    comment = "Good: each step of the update is right (checked by hand)."
    instructor_grades_in_formgrader(k, k.alice, comment)
    k.instructor_cli("feedback", ASSIGNMENT, "--no-progress")
    k.instructor_cli("release-feedback", ASSIGNMENT)

    # -- each student fetches their own feedback ---------------------------------------
    from course.mistakes import MISTAKES

    title = MISTAKES[MISTAKE].title
    pages = {}
    for user in (k.alice, k.bob):
        k.nbgrader(user, "fetch_feedback")
        found = glob.glob(f"{pwd.getpwnam(user).pw_dir}/{ASSIGNMENT}/feedback/*/{ASSIGNMENT}.html")
        assert found, f"{user} has no feedback"
        pages[user] = Path(found[-1]).read_text().replace("&#39;", "'")
        assert pwd.getpwuid(os.stat(found[-1]).st_uid).pw_name == user

    def score(html: str) -> tuple[float, float]:
        m = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", html) or re.search(r"([\d.]+)\s*/\s*([\d.]+)", html)
        assert m, html[:2000]
        return float(m.group(1)), float(m.group(2))

    alice_score, bob_score = score(pages[k.alice]), score(pages[k.bob])
    assert alice_score[0] == alice_score[1] > 0, alice_score   # the forgery was not graded as alice's
    assert bob_score[0] < bob_score[1], bob_score
    assert title in pages[k.bob] and title not in pages[k.alice]
    assert comment in pages[k.alice] and comment not in pages[k.bob]  # the instructor's comment, to alice only
    _denied(k, k.bob, "ls", str(k.exchange / COURSE / "feedback"))

    # -- Chromium: a student sees the student tools only, submits, opens the feedback rendered ---
    student_tools_and_submit(k, k.alice)
    print(f"hub class cycle: {time.monotonic() - started:.0f} s")

    # -- an upgrade while alice's server runs -------------------------------------------------
    _upgrade_while_running(k, k.alice)


def _stamp() -> dict:
    return json.loads((ENV_PREFIX / ".provisioned.json").read_text())


def _upgrade_while_running(k: Class, user: str) -> None:
    """Byte-compiling the source is no change; a forced re-provision builds beside the live
    environment and swaps it in while ``user``'s server runs: doctor stays green during the build,
    and the server still executes the notebook's cells afterwards."""
    import py_compile

    from autograder.classroom.provision import environment_fingerprint

    before = _stamp()
    assert environment_fingerprint() == before["fingerprint"]
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    module = sorted(site.glob("*.py"))[0]  # a top-level module: its .pyc lands in site-packages/__pycache__
    py_compile.compile(str(module), doraise=True)
    package = next(p for p in sorted(site.iterdir()) if (p / "__init__.py").is_file())
    py_compile.compile(str(package / "__init__.py"), doraise=True)  # and in a package's own __pycache__
    assert environment_fingerprint() == before["fingerprint"], "byte-compiling the source counted as a change"

    upgrade = subprocess.Popen([str(Path(sys.executable)), "-m", "autograder", "provision-env", "--prefix",
                                str(ENV_PREFIX), "--force"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    doctors = 0
    while upgrade.poll() is None:
        doctor = k.doctor()
        assert doctor.returncode == 0, f"doctor during the upgrade:\n{doctor.stdout}{doctor.stderr}"
        doctors += upgrade.poll() is None  # only runs that ended while the build was still going
    out = upgrade.stdout.read()
    assert upgrade.returncode == 0, out
    assert doctors >= 1, f"no doctor run ended during the build:\n{out}"
    assert "one atomic exchange" in out, out
    after = _stamp()
    assert after["version"] != before["version"] and (ENV_PREFIX / ".venv-previous").is_dir()
    print(f"upgrade while {user}'s server runs: {doctors} doctor runs green during it; "
          + " | ".join(line for line in out.splitlines() if " in " in line and " s" in line))
    # the server still runs code: Validate (nbgrader's handler) executes a notebook with bob's mistake in it
    model = {"type": "notebook", "format": "json", "content": json.loads(_notebook(MISTAKE))}
    r = k.user_api(user, "PUT", f"api/contents/{ASSIGNMENT}/probe.ipynb", json=model)
    assert r.status_code in (200, 201), r.text[:1000]
    r = k.user_api(user, "POST", "assignments/validate", data={"path": f"{ASSIGNMENT}/probe.ipynb"}, timeout=300)
    assert r.status_code == 200 and r.json().get("success"), r.text[:2000]
    failed = r.json()["value"].get("failed", [])
    assert failed and all(cell.get("error") for cell in failed), r.text[:3000]  # its test cells ran, and failed
    r = k.user_api(user, "POST", "assignments/validate", data={"path": f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"},
                   timeout=300)
    assert r.status_code == 200 and r.json() == {"success": True, "value": {}}, r.text[:2000]  # alice's passes


def test_hub_over_tls_with_a_self_signed_certificate(hub_class: Class):
    """GD_HUB_SSL_CERT/KEY as the README makes them: the hub answers over https only, the certificate
    verifies; the hub reads a class file with no course yet (the services: only the idle culler)."""
    import json as json_module
    import signal

    import requests

    from hub_support import free_port

    k = hub_class
    tls = k.tmp / "tls"
    tls.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tls / "hub.key"),
                    "-out", str(tls / "hub.crt")], check=True, capture_output=True, timeout=60)
    state = k.tmp / "tls-hub"
    state.mkdir(mode=0o700)
    class_file = tls / "classes" / "none.json"
    class_file.parent.mkdir()
    class_file.write_text(json_module.dumps({"env": str(ENV_PREFIX / "venv"), "proxy": str(PROXY),
                                             "hub_state": str(state)}))
    port = free_port()
    env = {"PATH": f"{k.python.parent}:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
           "GD_CLASS_FILE": str(class_file), "GD_HUB_PORT": str(port), "GD_HUB_INTERNAL_PORT": str(free_port()),
           "GD_HUB_PROXY_API_PORT": str(free_port()), "GD_HUB_SSL_CERT": str(tls / "hub.crt"),
           "GD_HUB_SSL_KEY": str(tls / "hub.key")}
    log = tls / "hub.log"
    hub = subprocess.Popen([str(k.python.parent / "jupyterhub"), "-f", str(REPO / "deploy" / "jupyterhub_config.py")],
                           cwd=state, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, answer = time.monotonic() + 90, None
        while time.monotonic() < deadline and (answer is None or answer.status_code != 200):
            assert hub.poll() is None, log.read_text()[-3000:]
            try:  # the proxy answers 404 until the hub has given it its routes
                answer = requests.get(f"https://127.0.0.1:{port}/hub/api/", verify=str(tls / "hub.crt"), timeout=10)
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        assert answer is not None and answer.status_code == 200, log.read_text()[-3000:]
        assert "version" in answer.json()
        login = requests.get(f"https://127.0.0.1:{port}/hub/login", verify=str(tls / "hub.crt"), timeout=10)
        assert login.status_code == 200 and "password" in login.text
        with pytest.raises(requests.ConnectionError):  # plain http on the same port: no answer
            requests.get(f"http://127.0.0.1:{port}/hub/api/", timeout=10)
    finally:
        os.killpg(hub.pid, signal.SIGTERM)
        try:
            hub.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(hub.pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            os.kill(int((state / "jupyterhub-proxy.pid").read_text()), signal.SIGKILL)
