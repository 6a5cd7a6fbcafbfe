"""Data sets that ship offline. Chapter 1 introduces the 8x8 digits.

scikit-learn carries the UCI optical digits test set (1,797 images of 8x8 pixels, grey
levels 0..16) inside its wheel, so nothing is downloaded at run time.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def load_digits_split(test_fraction=0.25, seed=0, standardize=True, as_images=False):
    """The 8x8 digits, split into a stratified train and test set.

    Inputs:
        test_fraction: share of the 1,797 images held out for testing.
        seed: seed of the split, so every reader gets the same split.
        standardize: rescale each pixel to mean 0 and variance 1 using statistics of the
            training set only (the test set must not leak into training). Pixels that
            are constant in the training set are left at 0.
        as_images: return x with shape (N, 1, 8, 8) instead of (N, 64).

    Returns:
        dict with x_train (N_train, 64), y_train (N_train,), x_test (N_test, 64),
        y_test (N_test,), all float64 / int64, and ``images_test`` (N_test, 8, 8), the raw
        grey levels of the test images for plotting.
    """
    digits = load_digits()
    x = digits.data.astype(np.float64)  # (1797, 64), values 0..16
    y = digits.target.astype(np.int64)  # (1797,)
    idx = np.arange(len(y))
    idx_train, idx_test = train_test_split(
        idx, test_size=test_fraction, random_state=seed, stratify=y
    )
    x_train, x_test = x[idx_train], x[idx_test]
    if standardize:
        mean = x_train.mean(axis=0)
        std = x_train.std(axis=0)
        std[std == 0] = 1.0  # constant border pixels: keep them at 0 after centring
        x_train = (x_train - mean) / std
        x_test = (x_test - mean) / std
    if as_images:
        x_train = x_train.reshape(-1, 1, 8, 8)
        x_test = x_test.reshape(-1, 1, 8, 8)
    return {
        "x_train": x_train,
        "y_train": y[idx_train],
        "x_test": x_test,
        "y_test": y[idx_test],
        "images_test": digits.images[idx_test],
    }
