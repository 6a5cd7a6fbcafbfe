"""Plotting helpers shared by the chapters (matplotlib).

Figures in the book are shown at their natural size (PNG at ``BOOK_DPI``) and shrunk only
when wider than the text column, which is 700 CSS pixels at its narrowest (a 1300 px
window, with both sidebars). :func:`check_readable` fails a figure whose smallest text
would render below :data:`MIN_TEXT_PX`, the size of the theme's small print (footnote
marks, 13.3 px), and :func:`use_book_style` sets font sizes that pass for figures up to
the column's width.
"""

import logging

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

BOOK_DPI = 100
COLUMN_PX = 700
MIN_TEXT_PX = 13.3
BOOK_STYLE = {
    "figure.dpi": BOOK_DPI,
    "savefig.dpi": BOOK_DPI,
    "figure.figsize": (6.8, 3.6),
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "figure.titlesize": 12,
}


def use_book_style():
    """Set matplotlib's defaults for the book's column (call once per chapter).

    Also quiets matplotlib's font manager: when a glyph is missing from DejaVu it logs one
    "findfont: ... not found" line per fallback font tried, to stderr, which the book would
    print under the cell (the fallback itself is harmless).
    """
    mpl.rcParams.update(BOOK_STYLE)
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def smallest_text_px(fig, column_px=COLUMN_PX):
    """Height in CSS pixels of the figure's smallest visible text, as the book shows it.

    The PNG is ``width_in * dpi`` pixels wide; wider than ``column_px`` it is scaled down
    to the column. Every visible text artist counts (titles, labels, ticks, legends,
    annotations, colour-bar labels).
    """
    dpi = mpl.rcParams["savefig.dpi"]
    dpi = fig.dpi if dpi == "figure" else dpi
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bbox = fig.get_tightbbox(renderer)  # inches, as saved with bbox_inches="tight"
    scale = min(1.0, column_px / (bbox.width * dpi))
    sizes = [t.get_fontsize() for t in fig.findobj(mpl.text.Text)
             if t.get_visible() and t.get_text().strip() and t.get_alpha() != 0]
    return min(sizes) * dpi / 72 * scale if sizes else float("inf")


def check_readable(fig, column_px=COLUMN_PX, min_px=MIN_TEXT_PX):
    """Fail unless every text in ``fig`` renders at ``min_px`` or more; return ``fig``.

    A colour map must come with a labelled colour bar: every image or mesh drawn with a
    colour map needs a colour bar whose axis has a label. Pictures whose grey levels need
    no scale (photographs, digit thumbnails) are exempt when marked with
    ``image.set_gid("colorbar_exempt")``.
    """
    px = smallest_text_px(fig, column_px)
    if px < min_px:
        raise AssertionError(
            f"figure text renders at {px:.1f} px in a {column_px} px column, below "
            f"{min_px} px: make the figure narrower or its fonts larger")
    bars = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
    labelled = all(ax.get_ylabel() or ax.get_xlabel() for ax in bars)
    if not labelled:
        raise AssertionError("a colour bar has no label: say what its colours mean")
    for ax in fig.axes:
        if ax in bars:
            continue
        for im in ax.get_images() + [c for c in ax.collections if c.get_array() is not None]:
            if im.get_gid() == "colorbar_exempt" or im.colorbar is not None:
                continue
            raise AssertionError(
                f"axes '{ax.get_title()}' shows a colour map without a colour bar: add "
                "fig.colorbar(...) with a label, or set_gid('colorbar_exempt') for a picture")
    return fig


def plot_history(history, title="Training", smooth=20):
    """Loss per step (raw and moving average) and accuracy per epoch, side by side.

    history: dict from :func:`dlcourse.train.train` (validation curve if it has one,
    else test). Returns the figure.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(6.8, 3.2))
    loss = np.asarray(history["loss"])
    steps = np.arange(1, len(loss) + 1)
    ax_loss.plot(steps, loss, color="0.75", lw=0.8, label="per step")
    if len(loss) >= smooth:
        avg = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
        ax_loss.plot(steps[smooth - 1 :], avg, color="C0", label=f"mean of {smooth} steps")
    ax_loss.set(xlabel="step", ylabel="training loss", yscale="log",
                title="Loss")
    ax_loss.legend()
    epochs = np.arange(1, len(history["train_acc"]) + 1)
    ax_acc.plot(epochs, history["train_acc"], "o-", ms=3, label="train")
    held_out = "val" if "val_acc" in history else "test"
    ax_acc.plot(epochs, history[f"{held_out}_acc"], "s-", ms=3,
                label="validation" if held_out == "val" else "test")
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
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    im = ax.imshow(cm, cmap="Blues")
    for i in range(n_classes):
        for j in range(n_classes):
            if cm[i, j]:
                color = "white" if cm[i, j] > cm.max() / 2 else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color,
                        fontsize=10)
    ax.set(
        xticks=range(n_classes),
        yticks=range(n_classes),
        xlabel="predicted class",
        ylabel="true class",
        title=title,
    )
    fig.colorbar(im, ax=ax, shrink=0.8).set_label("number of test images")
    fig.tight_layout()
    return fig


def show_images(images, labels=None, ncols=10, title=None, cmap="gray_r"):
    """Grid of small images (N, H, W) with optional labels (N,) as captions."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.68, nrows * 0.9))
    for k, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k], cmap=cmap).set_gid("colorbar_exempt")  # grey levels
            if labels is not None:
                ax.set_title(str(labels[k]), fontsize=11)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
