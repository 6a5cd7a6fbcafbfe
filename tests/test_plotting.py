"""The book's figure rules: readable text in the column, labelled colour bars."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dlcourse.data import load_digits_split  # noqa: E402
from dlcourse.plotting import (  # noqa: E402
    check_readable,
    plot_confusion_matrix,
    plot_history,
    show_images,
    smallest_text_px,
    use_book_style,
)


@pytest.fixture(autouse=True)
def book_style():
    with matplotlib.rc_context():
        use_book_style()
        yield
    plt.close("all")


def test_a_figure_wider_than_the_column_shrinks_its_text():
    narrow, ax = plt.subplots(figsize=(6, 3))
    ax.set_title("narrow")
    wide, ax = plt.subplots(figsize=(12, 3))
    ax.set_title("wide")
    # 10 pt ticks at 100 dpi are 13.9 px; a 12-inch figure (about 9.7 in once cropped
    # as the book saves it) is shrunk to 700 px, about 0.72 of its width
    assert smallest_text_px(narrow) == pytest.approx(10 * 100 / 72, rel=1e-6)
    assert smallest_text_px(wide) < 0.75 * smallest_text_px(narrow)
    check_readable(narrow)
    with pytest.raises(AssertionError, match="renders at"):
        check_readable(wide)


def test_a_colour_map_needs_a_labelled_colour_bar():
    fig, ax = plt.subplots(figsize=(4, 3))
    im = ax.imshow(np.eye(4))
    with pytest.raises(AssertionError, match="without a colour bar"):
        check_readable(fig)
    bar = fig.colorbar(im, ax=ax)
    with pytest.raises(AssertionError, match="no label"):
        check_readable(fig)
    bar.set_label("weight")
    check_readable(fig)


def test_the_library_plots_pass_the_book_rules():
    data = load_digits_split(validation_fraction=0.2)
    history = {"loss": list(np.linspace(2, 0.1, 200)), "train_acc": [0.8, 0.9],
               "val_acc": [0.7, 0.85]}
    fig = plot_history(history)
    assert "validation" in [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    check_readable(fig)
    check_readable(plot_confusion_matrix(data["y_test"], data["y_test"], 10))
    check_readable(show_images(data["images_test"][:20], data["y_test"][:20], title="digits"))


def test_validation_split_is_disjoint_and_standardised_on_training_data_only():
    plain = load_digits_split(seed=3)
    split = load_digits_split(seed=3, validation_fraction=0.2)
    assert np.array_equal(plain["y_test"], split["y_test"])  # the test set is unchanged
    n_train, n_val = len(split["y_train"]), len(split["y_val"])
    assert n_train + n_val == len(plain["y_train"]) and abs(n_val / (n_train + n_val) - 0.2) < 0.01
    assert np.allclose(split["x_train"].mean(axis=0), 0, atol=1e-12)
    assert not np.allclose(split["x_val"].mean(axis=0), 0, atol=1e-3)
    assert "x_val" not in plain
