"""The mistakes of the exercises that test one idea each (issue 25): the stability bound, scaling, the
forgotten zero_(), the validation loss, batches, the tape, momentum, retracing and the framework defaults.

Each block names its notebook and exercise; :data:`course.mistakes.catalog.MISTAKES` holds them with the
fitting mistakes.
"""

from __future__ import annotations

from .mistake import Mistake

EXERCISE_MISTAKES = [
    # Notebook 2 (02_torch_manual), issue 25: the loop that forgets zero_() (Exercise 4).
    Mistake("zeroed_run", "the run with the gradients zeroed",
            "that is w after {updates} updates of the correct loop, which zeroes .grad after every update; "
            "without zero_() each update subtracts lr times the running sum of every gradient so far",
            "let the gradients add up: update k subtracts lr · (g₀ + g₁ + … + g_k), each g_j the gradient "
            "at the w and b of epoch j"),
    Mistake("updates_off", "one update off",
            "that is w after {updates_run} updates, not {updates}",
            "start from w = b = 0 and make exactly {updates} updates: for epoch in range({updates})"),
    Mistake("first_gradient_repeated", "the first gradient added again at every update",
            "each update added the gradient at the start once more (g₀, then 2·g₀, then 3·g₀, …); but "
            "backward() adds the gradient at the current w and b, which changes as they move",
            "compute each epoch's gradient where w and b are now and add it to the running sum: update k "
            "subtracts lr · (g₀ + … + g_k)"),
    # Notebook 3 (03_torch_optim), issue 25: the validation loss (Exercise 3).
    Mistake("train_loss", "the training loss, not the validation loss",
            "that is the trained line's loss on the {n_train} points it was trained on; the validation loss is "
            "measured on the {n_val} held-out points",
            "measure the trained w and b on the held-out points only: the mean of (w·x_val + b − y_val)²"),
    Mistake("all_points_loss", "the loss over all the points",
            "that is the trained line's loss on all {n} points, the training points included; the validation "
            "loss uses only the {n_val} held out",
            "measure the trained w and b on the held-out points only: the mean of (w·x_val + b − y_val)²"),
    Mistake("untrained_loss", "the loss before training",
            "that is the loss of the starting line w = b = 0: the loss was taken before the fit, or of "
            "parameters the fit did not return",
            "train first, then measure the w and b that fit_optim returns on the held-out points"),
    Mistake("split_reversed", "the split the wrong way round",
            "the line was trained on {n_val} points and measured on the other {n_train}: the training and "
            "validation parts are swapped",
            "train on the first {n_train} points, x[:{n_train}], and measure on the last {n_val}, "
            "x[{n_train}:]"),
    Mistake("validation_in_training", "the validation points used in training",
            "the line was trained on all {n} points, the held-out ones included, so its loss on them no "
            "longer measures points the model has not seen",
            "train on the training part only: fit_optim(x[:{n_train}], y[:{n_train}], ...)"),
    Mistake("summed_errors", "the squared errors summed, not averaged",
            "that is the sum of the {n_val} squared errors, n = {n_val} times their mean",
            "average them: the mean of (w·x_val + b − y_val)², or nn.MSELoss() on [N, 1] tensors"),
    # Notebook 3 (03_torch_optim), issue 25: the largest stable lr of a summed loss (Exercise 4).
    Mistake("mean_loss_bound", "the mean loss's bound",
            "that is 2/λ_max of the mean loss; the summed loss is n = {n} times the mean, so its Hessian and "
            "λ_max are n times larger",
            "use the summed loss's Hessian: its λ_max is n times the mean loss's"),
    Mistake("bound_multiplied", "multiplied by n where it should divide",
            "the summed loss's gradient and Hessian are n = {n} times the mean loss's, so the learning rates "
            "it stays stable with are n times smaller, not larger",
            "divide the mean loss's bound by n = {n}"),
    Mistake("bound_n_minus_1", "divided by n − 1 instead of n",
            "the summed loss is exactly n = {n} times the mean (each of the n squared errors counted once), "
            "not n − 1 = {n_minus_1} times: no sample-variance correction here",
            "divide by n = {n}"),
    Mistake("sum_hessian_no_2", "the factor 2 left out of the summed loss's Hessian",
            "the second derivative of (w·x + b − y)² keeps the 2 of the square; without it λ_max is halved "
            "and the bound doubled",
            "H_sum = 2·Σ [[x², x], [x, 1]], and the bound 2 / λ_max(H_sum)"),
    Mistake("six_points_bound", "the bound for other data",
            "that is a bound for {dataset}; the Hessian is built from the data, and article 002's {n} points "
            "give another one",
            "build H from article 002's x (noisy.x, n = {n}) with the summed loss"),
    Mistake("least_squares_b", "the intercept of the right fit",
            "that is the b of the correct least-squares line; with [N, 1] predictions against [N] targets "
            "the loss compares every prediction with every target",
            "every prediction is pulled towards every target: the best constant is the mean of y"),
    Mistake("b_stays_zero", "b assumed to stay at zero",
            "b does move: with every prediction compared with every target, w goes to 0 and b to the mean of y",
            "the best constant prediction for all targets at once is their mean"),
    # Mistakes of the small functions (check_mse) rather than of a whole run.
    Mistake("rmse", "square root of the MSE",
            "the value is the root mean squared error (the square root of the MSE)",
            "leave out the square root: mean((y_pred - y) ** 2)"),
    Mistake("abs_error", "absolute instead of squared errors",
            "the value is the mean absolute error, mean(|y_pred − y|)",
            "square the errors: mean((y_pred - y) ** 2)"),
    Mistake("half_loss", "an extra factor ½",
            "the value is ½·MSE (a convention some books use to simplify the gradient)",
            "leave out the 0.5: mean((y_pred - y) ** 2)"),
    # Mistakes of the Glorot-range exercise (check_glorot_limit).
    Mistake("glorot_variance", "the variance, not the limit",
            "the value is Glorot's variance 2 / (fan_in + fan_out), not the half-width of the range",
            "a uniform distribution on [−ℓ, ℓ] has variance ℓ²/3: solve ℓ²/3 = 2 / (fan_in + fan_out) for ℓ"),
    Mistake("glorot_std", "the standard deviation, not the limit",
            "the value is the standard deviation √(2 / (fan_in + fan_out)) (Glorot *normal*'s), "
            "√3 times smaller than the uniform range's half-width",
            "a uniform distribution on [−ℓ, ℓ] has standard deviation ℓ/√3: ℓ = √3 · √(2 / (fan_in + fan_out))"),
    Mistake("glorot_no_sqrt", "the square root left out",
            "the value is 6 / (fan_in + fan_out), the square of the limit",
            "take the square root: ℓ = √(6 / (fan_in + fan_out))"),
    Mistake("glorot_full_width", "the full width, not the half-width",
            "the value is twice the limit ℓ: the width 2ℓ of the range [−ℓ, ℓ]",
            "return ℓ, half the width: the variance of a uniform [−ℓ, ℓ] is (2ℓ)²/12 = ℓ²/3"),
    Mistake("glorot_fan_in", "fan_in alone instead of the average of the fans",
            "the value uses fan_in only ({formula}), as LeCun's or He's initialisers do; Glorot averages "
            "fan_in and fan_out",
            "use the average of the fans: variance 2 / (fan_in + fan_out), so ℓ = √(6 / (fan_in + fan_out))"),
    Mistake("torch_linear_bound", "PyTorch's range, not Keras's",
            "the value is 1/√fan_in, the range nn.Linear draws its weights from (kaiming_uniform_ with a = √5)",
            "Keras's Dense uses Glorot uniform: ℓ = √(6 / (fan_in + fan_out))"),
    # Notebook 1 (01_numpy_by_hand), issue 25: the largest stable learning rate (Exercise 7).
    Mistake("zigzag_threshold", "the zig-zag threshold 1/λ_max, not the limit",
            "1/λ_max is where the factor 1 − lr·λ_max turns negative and the path starts to zig-zag; "
            "the steps still shrink up to twice that, and only above 2/λ_max does the run diverge",
            "the largest stable lr is 2 / λ_max: 2 / np.linalg.eigvalsh(H).max()"),
    Mistake("bound_lambda_min", "2/λ_min instead of 2/λ_max",
            "the steep direction is the first to blow up: above 2/λ_max its factor |1 − lr·λ_max| exceeds 1, "
            "however slowly the flat direction (λ_min) moves",
            "divide by the largest eigenvalue: 2 / np.linalg.eigvalsh(H).max()"),
    Mistake("best_lr_not_bound", "the best fixed lr, not the largest stable one",
            "2 / (λ_min + λ_max) is the rate that converges fastest; the largest stable rate 2 / λ_max lies "
            "above it (here only a little: λ_min is tiny next to λ_max)",
            "leave λ_min out: 2 / λ_max"),
    Mistake("hessian_summed", "the Hessian of the summed loss",
            "without the 1/n, H belongs to the summed loss: every entry is n = {n} times larger, and so the "
            "bound is n times smaller",
            "average over the points: H = (2/n)·Σ [[x², x], [x, 1]], with n = len(x)"),
    Mistake("hessian_no_2", "the factor 2 left out of H",
            "the second derivative of (w·x + b − y)² keeps the 2 of the square; without it every eigenvalue "
            "is halved and the bound doubled",
            "H = (2/n)·Σ [[x², x], [x, 1]]: keep the factor 2"),
    Mistake("hessian_other_x", "the bound of the six points, not article 003's",
            "that is 2/λ_max for {dataset}'s x, the data of the notebook's first sections; article 003's x "
            "(up to 24) makes the bowl far steeper",
            "build H from article 003's inputs: data.xy_table().x"),
    Mistake("largest_entry", "the largest entry of H, not its largest eigenvalue",
            "λ_max is larger than the largest entry H[0, 0] = 2·mean(x²) whenever the off-diagonal entry "
            "2·mean(x) is not zero",
            "take the eigenvalues: np.linalg.eigvalsh(H).max()"),
    Mistake("stable_listed", "the stable rates listed instead of the diverging ones",
            "those are the learning rates below 2/λ_max, the ones that converge",
            "list the rates above the bound: [lr for lr in lr_candidates if lr > lr_max_003]"),
    # Notebook 1 (01_numpy_by_hand), issue 25: scale, fit, map back (Exercise 8).
    Mistake("scale_not_undone", "w′ and b′ not mapped back",
            "these are the slope and intercept in the scaled units x′ = (x − μ)/σ; in x's own units the line "
            "is w = w′/σ, b = b′ − w′μ/σ",
            "map back: w_003 = w_scaled / sigma, b_003 = b_scaled - w_scaled * mu / sigma"),
    Mistake("scale_times_sigma", "w′ multiplied by σ instead of divided",
            "x′ = (x − μ)/σ grows by 1/σ when x grows by 1, so the slope in x's units is w′/σ, not w′·σ",
            "divide by σ: w_003 = w_scaled / sigma"),
    Mistake("scale_b_sign", "the sign of w′μ/σ flipped in b",
            "ŷ = w′(x − μ)/σ + b′ = (w′/σ)·x + (b′ − w′μ/σ): the intercept subtracts w′μ/σ",
            "b_003 = b_scaled - w_scaled * mu / sigma"),
    Mistake("scale_b_unmapped", "b′ kept as the intercept",
            "b′ is the prediction at x′ = 0, that is at x = μ = {mu}; the intercept (the prediction at x = 0) "
            "is b′ − w′μ/σ",
            "b_003 = b_scaled - w_scaled * mu / sigma"),
    Mistake("scale_stats_of_y", "μ and σ of y used to map back",
            "the map back undoes the scaling of x, so it needs x's mean and standard deviation "
            "(μ = {mu}, σ = {sigma}), not y's",
            "use the mu and sigma you standardised x with: w_003 = w_scaled / sigma, "
            "b_003 = b_scaled - w_scaled * mu / sigma"),
    Mistake("scale_not_centred", "x divided by σ but not centred",
            "x/σ is not standardised: its mean is not 0, so H still has an off-diagonal entry, the bowl is "
            "still tilted and 100 epochs at lr = 0.1 leave its flat direction short of the minimum",
            "subtract the mean as well: x_scaled = (x - mu) / sigma, and map back with "
            "b_scaled - w_scaled * mu / sigma"),
    # Notebook 5 (05_gradient_tape), issue 25: a gradient by the tape (Exercise 1).
    Mistake("not_watched", "a constant the tape did not watch",
            "the same function gives the right gradient for a tf.Variable, which a tape watches unasked; "
            "a tf.constant is watched only after tape.watch, so the tape had no gradient to give (None)",
            "call tape.watch(v) inside the with block, before computing from v"),
    Mistake("outside_tape", "the computation was not recorded on the tape",
            "the tape gave None even for a tf.Variable: the loss was computed before the with block "
            "opened, or through NumPy (.numpy(), np.…), which the tape cannot see",
            "compute the loss from v inside `with tf.GradientTape() as tape:`, with TensorFlow operations only"),
    Mistake("example_input", "the example's x used instead of the argument",
            "those are the gradients at the example's [1, 2, 3]: the function ignored its argument v "
            "(n = {n} here)",
            "compute from the argument v your function receives, not from the example's values"),
    Mistake("fixed_n", "n fixed at the example's 3",
            "that is 3·v_i² / 3: the mean was taken as if v always had the example's 3 entries (it has {n})",
            "divide by the length of v: tf.reduce_mean does it, or tf.cast(tf.size(v), tf.float32)"),
    # Notebook 5, issue 25: which calls trace a tf.function (Exercise 4).
    Mistake("every_call_traces", "every call counted as a trace",
            "A tf.function traces only when it meets a new input signature; a call that matches an earlier "
            "one reuses its graph",
            "list only the calls with a new signature: a new dtype or shape for a tensor, a new value for a "
            "Python number"),
    Mistake("tensor_values_retrace", "new tensor values counted as a retrace",
            "a tensor's signature is its dtype and shape only: new values of the same dtype and shape reuse "
            "the graph (the values are the graph's inputs)",
            "for tensors and NumPy arrays compare only dtype and shape with the earlier calls"),
    Mistake("python_numbers_by_type", "Python numbers treated like tensors",
            "a Python number is not turned into a tensor input: its value is built into the graph as a "
            "constant, so every new value traces again",
            "count a trace for each Python number not passed before (1.5 and 2.5 are two traces)"),
    Mistake("dtype_ignored", "a new dtype not counted",
            "a float64 tensor needs other kernels than a float32 one of the same shape, so a new dtype "
            "traces again",
            "count a trace when a tensor brings a dtype not seen with its shape (float64 after float32)"),
    Mistake("numpy_by_value", "a NumPy array treated like a Python value",
            "a NumPy array is converted to a tensor of its own dtype (float64 here) and shape, so it reuses the "
            "graph of an earlier tensor with that dtype and shape",
            "treat a NumPy array as a tensor of its dtype: np.array([7.0, 8.0, 9.0]) is float64 of shape (3,)"),
    Mistake("scalar_tensor_as_python", "a scalar tensor matched with a Python number",
            "tf.constant(2.5) is a float32 tensor of shape (): a tensor input, unlike the Python 2.5 whose "
            "value was built into its graph, so it traces",
            "a tensor's signature is its dtype and shape, whatever Python number it was made from"),
    Mistake("first_call_not_counted", "the first call not counted",
            "the first call of a tf.function always traces: there is no graph yet",
            "count call 1 as a trace"),
    Mistake("numbered_from_zero", "calls numbered from 0",
            "the calls are numbered from 1, as the list shows; yours are each one less",
            "number the calls 1 to {count}: add 1 to each of yours"),
    # Notebook 5, issue 25: SGD's momentum by hand (Exercise 5).
    Mistake("velocity_reset", "no velocity kept between epochs",
            "these are plain gradient descent's numbers: the velocity started again at 0 every epoch (or the "
            "optimizer was created inside the loop, or momentum was never used)",
            "create each velocity once, before the loop, as tf.Variable(0.0), and update it every epoch"),
    Mistake("ema_momentum", "the moving-average form of momentum",
            "v ← μ·v + (1 − μ)·g, then w ← w − lr·v is a moving average of the gradients; Keras's SGD adds "
            "the whole step, v ← μ·v − lr·g, so its steps are 1/(1 − μ) times larger once v settles",
            "v.assign(momentum * v - lr * dw), then w.assign_add(v)"),
    Mistake("position_first", "w moved before the velocity was updated",
            "w was moved by the previous epoch's velocity, then the velocity updated: every step lags one "
            "epoch behind Keras's",
            "update the velocity first, then move w by the new velocity: v.assign(momentum * v - lr * dw), "
            "w.assign_add(v)"),
    Mistake("momentum_lr_twice", "the learning rate applied twice",
            "the velocity v ← μ·v − lr·g already holds lr; w ← w + lr·v multiplies by lr a second time",
            "move w by the velocity itself: w.assign_add(v)"),
    Mistake("nesterov_update", "Nesterov's update instead of plain momentum",
            "w ← w + μ·v − lr·g is SGD(momentum, nesterov=True); the exercise's SGD has nesterov=False",
            "w.assign_add(v) with v = momentum·v − lr·g"),
    # Notebook 4 (04_keras_sequential), issue 25: what fit does with batch_size (Exercise 3).
    Mistake("rounded_batches", "the count rounded to the nearest",
            "{received} is n / batch_size rounded to the nearest whole number; an epoch makes one update per "
            "batch, the last, smaller batch too, so the division rounds up",
            "round up: math.ceil(n / batch_size), or -(-n // batch_size)"),
    Mistake("extra_batch", "one batch too many when batch_size divides n",
            "n // batch_size + 1 counts an empty last batch whenever batch_size divides n (100 points in "
            "batches of 10 make 10 batches, not 11)",
            "round up instead: math.ceil(n / batch_size), or -(-n // batch_size)"),
    Mistake("none_as_full_batch", "batch_size=None read as one full batch",
            "left out, batch_size is {batch}, not n: on {n} points fit makes several updates per epoch "
            "(article 000's six points fitted in one batch only because 6 ≤ {batch})",
            "use {batch} when batch_size is None: size = {batch} if batch_size is None else batch_size"),
    Mistake("batch_size_default", "batch_size left at its default",
            "batch_size=None (or {batch}, the size it stands for) cuts these {n} points into batches of {batch}: "
            "{batches} updates per epoch, mini-batch gradient descent",
            "pass a batch that holds every point: batch_size=len(x), or any whole number ≥ n"),
    Mistake("batch_too_small", "a batch smaller than the data",
            "fit cuts the {n} points into {batches} batches of {batch_size} (the last holds {last}): "
            "mini-batch gradient descent, {batches} updates per epoch",
            "pass a batch that holds every point: batch_size=len(x) for these x, or any whole number ≥ n"),
    Mistake("batch_size_one", "batch_size=1: one update per point",
            "batches of one point make {n} updates per epoch, each along a single point's gradient: "
            "stochastic gradient descent",
            "pass a batch that holds every point: batch_size=len(x), or any whole number ≥ n"),
    Mistake("batch_fraction", "a fraction of the data, not a number of points",
            "batch_size counts points, and fit refuses a float ({received} makes it raise TypeError): "
            "1.0 does not mean 'all of it'",
            "give the number of points as an int: batch_size=len(x)"),
    # Notebook 6 (06_side_by_side), issue 25: the default that makes a program differ (Exercise 1).
    Mistake("default_missed", "a default that changes the run missed",
            "program {program} leaves out {setting}: its default, {value}, is not what NumPy's run uses ({ours})",
            "for each setting a program leaves out, compare its default (the table above) with NumPy's run"),
    Mistake("default_written", "a setting the program writes out blamed",
            "program {program} sets {setting} itself, so its default plays no part",
            "look only at the settings a program leaves out"),
    Mistake("reduction_default_mean", "the MSE's default reduction blamed",
            "Keras's 'mse' ('sum_over_batch_size') and PyTorch's MSELoss() ('mean') both average over the "
            "batch, as NumPy's run does",
            "the reduction changes a run only where a program asks for a sum: look for another left-out setting"),
    Mistake("float32_blamed", "float32 taken for a difference",
            "float32 against float64 moves w and b only around the 7th significant digit (the first table): "
            "such runs agree to float32 precision",
            "count a run as different only where a default moves the line itself, not its last digits"),
    Mistake("default_batch_holds_all", "a default batch that holds every point",
            "the default batch of {batch} points holds all {n}: one batch and one update per epoch, and "
            "shuffling a single batch changes no gradient",
            "the default batch_size matters only when there are more than {batch} points"),
    Mistake("lr_not_optimizer", "another optimizer, not another learning rate",
            "compile without an optimizer trains with {optimizer}, not SGD: another update rule altogether, "
            "not SGD with another step",
            "name the optimizer: compile picks {optimizer} when none is given"),
]
