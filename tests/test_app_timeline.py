"""The timeline on the pages that look inside: scrub a run from step 0 to its end (AppTest, real checkpoints).

The conftest run (30 tiny steps) keeps snapshots at step 0 (untrained) and step 30."""

from dashboard.ui.navigation import CONFUSION, FEATURE_MAPS, FILTERS
from app_pages import open_page



def chart(at, key):
    return at.get_by_key(key).proto.spec  # the plotly figure, as JSON


def accuracy_shown(at):
    return next(m.value for m in at.metric if m.label == "Test accuracy")


def test_the_slider_goes_from_the_untrained_network_to_the_trained_one_and_starts_at_the_end(trained_app):
    at = open_page(FILTERS)
    slider = at.select_slider(key="filters_timeline")
    assert [option.split(" · ")[0] for option in slider.options] == ["step 0 (untrained)", "step 30"]
    assert slider.value == 30


def test_scrubbing_changes_the_filters_and_keeps_the_chosen_layer(trained_app):
    at = open_page(FILTERS)
    at.segmented_control(key="filters_layer").set_value("layer_conv2").run()
    trained = chart(at, "filters_grid")
    at.select_slider(key="filters_timeline").set_value(0).run()
    assert not at.exception
    assert at.segmented_control(key="filters_layer").value == "layer_conv2"
    assert chart(at, "filters_grid") != trained


def test_scrubbing_changes_the_confusion_matrix_and_the_step_is_shared_by_the_pages(trained_app):
    at = open_page(CONFUSION)
    trained_matrix, trained_accuracy = chart(at, "cm_chart"), accuracy_shown(at)
    at.select_slider(key="cm_timeline").set_value(0).run()
    assert chart(at, "cm_chart") != trained_matrix and accuracy_shown(at) != trained_accuracy
    at.switch_page(FEATURE_MAPS).run()  # the next page opens at the same step
    assert at.select_slider(key="fm_timeline").value == 0
    at.switch_page(FILTERS).run()
    assert at.select_slider(key="filters_timeline").value == 0


def test_play_starts_from_the_untrained_network_and_a_hand_on_the_slider_stops_it(trained_app):
    at = open_page(FILTERS)
    at.button(key="filters_play").click().run()
    assert at.select_slider(key="filters_timeline").value == 0  # from the start: it was at the end
    assert at.button(key="filters_play").label == "Pause"
    at.select_slider(key="filters_timeline").set_value(30).run()
    assert at.button(key="filters_play").label == "Play"
