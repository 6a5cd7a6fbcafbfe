"""Data sets that ship offline. Chapter 1 introduces the 8x8 digits.

scikit-learn carries the UCI optical digits test set (1,797 images of 8x8 pixels, grey
levels 0..16) inside its wheel, so nothing is downloaded at run time.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def load_digits_split(test_fraction=0.25, seed=0, standardize=True, as_images=False,
                      validation_fraction=0.0):
    """The 8x8 digits, split into a stratified train, (validation) and test set.

    Inputs:
        test_fraction: share of the 1,797 images held out for testing.
        validation_fraction: share of the remaining images held out for validation
            (model choice, early stopping, curves during training), so that the test
            set is looked at once, at the end. 0 gives no validation set.
        seed: seed of the split, so every reader gets the same split.
        standardize: rescale each pixel to mean 0 and variance 1 using statistics of the
            training set only (the test set must not leak into training). Pixels that
            are constant in the training set are left at 0.
        as_images: return x with shape (N, 1, 8, 8) instead of (N, 64).

    Returns:
        dict with x_train (N_train, 64), y_train (N_train,), x_test (N_test, 64),
        y_test (N_test,), all float64 / int64, and ``images_test`` (N_test, 8, 8), the raw
        grey levels of the test images for plotting; with a validation fraction also
        x_val (N_val, 64) and y_val (N_val,), standardised with the training statistics.
    """
    digits = load_digits()
    x = digits.data.astype(np.float64)  # (1797, 64), values 0..16
    y = digits.target.astype(np.int64)  # (1797,)
    idx = np.arange(len(y))
    idx_train, idx_test = train_test_split(
        idx, test_size=test_fraction, random_state=seed, stratify=y
    )
    idx_val = idx[:0]
    if validation_fraction > 0:
        idx_train, idx_val = train_test_split(
            idx_train, test_size=validation_fraction, random_state=seed, stratify=y[idx_train]
        )
    parts = {"train": x[idx_train], "val": x[idx_val], "test": x[idx_test]}
    if standardize:
        mean = parts["train"].mean(axis=0)
        std = parts["train"].std(axis=0)
        std[std == 0] = 1.0  # constant border pixels: keep them at 0 after centring
        parts = {k: (v - mean) / std for k, v in parts.items()}
    if as_images:
        parts = {k: v.reshape(-1, 1, 8, 8) for k, v in parts.items()}
    out = {
        "x_train": parts["train"],
        "y_train": y[idx_train],
        "x_test": parts["test"],
        "y_test": y[idx_test],
        "images_test": digits.images[idx_test],
    }
    if validation_fraction > 0:
        out.update(x_val=parts["val"], y_val=y[idx_val])
    return out
