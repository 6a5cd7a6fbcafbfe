"""Plotting helpers shared by the chapters (matplotlib)."""

import matplotlib.pyplot as plt
import numpy as np


def plot_history(history, title="Training", smooth=20):
    """Loss per step (raw and moving average) and accuracy per epoch, side by side.

    history: dict from :func:`dlcourse.train.train`. Returns the figure.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    loss = np.asarray(history["loss"])
    steps = np.arange(1, len(loss) + 1)
    ax_loss.plot(steps, loss, color="0.75", lw=0.8, label="per step")
    if len(loss) >= smooth:
        avg = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
        ax_loss.plot(steps[smooth - 1 :], avg, color="C0", label=f"mean of {smooth} steps")
    ax_loss.set(xlabel="step", ylabel="training loss (data + penalty)", yscale="log",
                title="Loss")
    ax_loss.legend()
    epochs = np.arange(1, len(history["train_acc"]) + 1)
    ax_acc.plot(epochs, history["train_acc"], "o-", ms=3, label="train")
    ax_acc.plot(epochs, history["test_acc"], "s-", ms=3, label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true, y_pred, n_classes):
    """Counts C[i, j] of examples of true class i predicted as j. Shape (n, n)."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def plot_confusion_matrix(y_true, y_pred, n_classes, title="Confusion matrix"):
    """Heat map of the confusion matrix with the count written in each cell."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    fig, ax = plt.subplots(figsize=(5, 4.4))
    im = ax.imshow(cm, cmap="Blues")
    for i in range(n_classes):
        for j in range(n_classes):
            if cm[i, j]:
                color = "white" if cm[i, j] > cm.max() / 2 else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set(
        xticks=range(n_classes),
        yticks=range(n_classes),
        xlabel="predicted class",
        ylabel="true class",
        title=title,
    )
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def show_images(images, labels=None, ncols=10, title=None, cmap="gray_r"):
    """Grid of small images (N, H, W) with optional labels (N,) as captions."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.9, nrows * 1.05))
    for k, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k], cmap=cmap)
            if labels is not None:
                ax.set_title(str(labels[k]), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
