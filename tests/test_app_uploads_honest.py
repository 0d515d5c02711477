"""Feature maps with a photo of one's own, run headless with AppTest: the page says the network must pick one of
its ten classes, the learner may say what the photo is and the bars are coloured by it, and a rejected or
removed file never leaves a result that looks like the new one's."""
import io
import json

import numpy as np
from PIL import Image

from app_pages import open_page
from dashboard.figures.probabilities import ANSWER, OTHER, RIGHT, WRONG, bar_colours
from dashboard.ui.navigation import FEATURE_MAPS

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def png(colour):
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(photo, format="PNG")
    return photo.getvalue()


RED, BLUE = png((230, 25, 75)), png((0, 0, 128))  # the tiny data's airplane and truck colours


def bars(at):
    """-> (bar names, colours, probabilities) of the probability chart."""
    bar = json.loads(at.get_by_key("fm_probs").proto.spec)["data"][0]
    return bar["y"], bar["marker"]["color"], bar["x"]


def upload(at, data, name="photo.png"):
    at.file_uploader(key="fm_upload").set_value((name, data, "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def photo_page():
    at = open_page(FEATURE_MAPS)
    at.radio(key="fm_source").set_value("Your own photo").run()
    return at


def test_the_bars_colour_rules_worked_out_by_hand():
    p = np.array([0.1, 0.6, 0.3])
    assert bar_colours(p, 1) == [OTHER, RIGHT, OTHER]  # right: the answer green
    assert bar_colours(p, 2) == [OTHER, WRONG, RIGHT]  # wrong: the answer red, the class it is green
    assert bar_colours(p) == [OTHER, ANSWER, OTHER]  # not known: the answer neither right nor wrong
    assert bar_colours(p, "none of these") == [OTHER] * 3


def test_a_photo_marked_none_of_these_has_every_bar_grey_and_says_no_answer_can_be_right(trained_app):
    at = upload(photo_page(), RED)
    assert at.selectbox(key="fm_photo_is").value == "I won't say"  # nothing said until the learner says it
    assert "it must answer one of them" in " ".join(c.value for c in at.caption)
    at.selectbox(key="fm_photo_is").set_value("none of these").run()
    assert not at.exception
    names, colours, _ = bars(at)
    assert colours == [OTHER] * 10 and names == CLASSES  # no bar is "the right one"
    text = " ".join(m.value for m in at.markdown)
    assert "none of its ten answers can be right: it had to pick one" in text


def test_the_class_the_learner_names_is_green_and_a_different_answer_red(trained_app):
    at = upload(photo_page(), RED)
    _, colours, probabilities = bars(at)
    answer = int(np.argmax(probabilities))
    assert colours == [ANSWER if i == answer else OTHER for i in range(10)]  # "I won't say": no red, no green

    at.selectbox(key="fm_photo_is").set_value(CLASSES[answer]).run()
    names, colours, _ = bars(at)
    assert colours == [RIGHT if i == answer else OTHER for i in range(10)]
    assert names[answer] == f"{CLASSES[answer]} (you say)"
    assert "— right." in " ".join(m.value for m in at.markdown)

    other = (answer + 1) % 10
    at.selectbox(key="fm_photo_is").set_value(CLASSES[other]).run()
    names, colours, _ = bars(at)
    assert colours[other] == RIGHT and colours[answer] == WRONG
    assert colours.count(OTHER) == 8 and "(true)" not in " ".join(names)


def test_a_rejected_file_after_a_good_one_says_the_result_is_still_the_previous_photos(trained_app):
    at = upload(photo_page(), RED)
    at.selectbox(key="fm_photo_is").set_value("none of these").run()
    before = bars(at)
    upload(at, b"this is not a picture", "notes.png")
    assert "not an image we can read" in at.error[0].value
    assert "The result below is still your previous photo's." in at.error[0].value
    assert at.subheader[0].value == "What the network sees in your photo (still the previous one)"
    assert bars(at) == before  # the same photo, still marked as the learner said
    assert at.selectbox(key="fm_photo_is").value == "none of these"


def test_a_new_photo_starts_unsaid_and_removing_it_clears_result_and_answer(trained_app):
    at = upload(photo_page(), RED)
    at.selectbox(key="fm_photo_is").set_value("airplane").run()
    upload(at, BLUE, "truck.png")
    assert at.selectbox(key="fm_photo_is").value == "I won't say"  # what was said was about the other photo
    assert "(you say)" not in " ".join(bars(at)[0])

    at.selectbox(key="fm_photo_is").set_value("truck").run()
    at.file_uploader(key="fm_upload").set_value(None).run()
    assert not at.exception
    assert at.subheader[0].value == "What the network sees in test image 0"
    assert "No photo yet" in " ".join(c.value for c in at.caption)
    assert "fm_photo_is" not in [s.key for s in at.selectbox]
    upload(at, BLUE, "truck.png")  # the same file again is a new upload: nothing said yet
    assert at.selectbox(key="fm_photo_is").value == "I won't say"
