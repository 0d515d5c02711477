"""Class names in sentences: articles, plurals and counts (dashboard/ui/words.py)."""
import pytest

from dashboard.ui.words import article, count_of, describe_cell, describe_empty_cell, plural, with_article

CIFAR10 = {  # singular: (with its article, plural)
    "airplane": ("an airplane", "airplanes"),
    "automobile": ("an automobile", "automobiles"),
    "bird": ("a bird", "birds"),
    "cat": ("a cat", "cats"),
    "deer": ("a deer", "deer"),
    "dog": ("a dog", "dogs"),
    "frog": ("a frog", "frogs"),
    "horse": ("a horse", "horses"),
    "ship": ("a ship", "ships"),
    "truck": ("a truck", "trucks"),
}


@pytest.mark.parametrize("name", list(CIFAR10))
def test_every_cifar10_class_gets_its_article(name):
    assert with_article(name) == CIFAR10[name][0]
    assert article(name) == CIFAR10[name][0].split()[0]


@pytest.mark.parametrize("name", list(CIFAR10))
def test_every_cifar10_class_gets_its_plural(name):
    assert plural(name) == CIFAR10[name][1]


@pytest.mark.parametrize("name", list(CIFAR10))
def test_one_is_singular_and_every_other_count_plural(name):
    assert count_of(1, name) == f"1 {name}"
    assert count_of(2, name) == f"2 {CIFAR10[name][1]}"
    assert count_of(0, name) == f"0 {CIFAR10[name][1]}"


def test_an_goes_before_vowels_and_a_before_consonants():
    for word in ("apple", "egg", "image", "orange", "umbrella", "Airplane"):
        assert article(word) == "an", word
    for word in ("banana", "cat", "truck", "yak"):
        assert article(word) == "a", word
    assert with_article("hour") == "an hour" and with_article("user") == "a user"  # the sound decides


def test_plurals_follow_english_spelling():
    assert [plural(w) for w in ("box", "bus", "match", "dish", "lorry", "day")] == [
        "boxes", "buses", "matches", "dishes", "lorries", "days"]
    assert plural("test image") == "test images"  # the last word of a phrase
    assert plural("sheep") == "sheep"


def test_counts_are_thousands_separated():
    assert count_of(1_234, "test image") == "1,234 test images"
    assert count_of(1_000_000, "deer") == "1,000,000 deer"
    assert count_of(1, "test image") == "1 test image"


def test_a_confusion_cell_names_its_images_in_plain_english():
    assert describe_cell(120, 24, "deer", "horse").startswith(
        "**120 test images** of deer are called **horse** (wrong); here are the 24 it was most sure of.")
    assert describe_cell(1_234, 24, "cat", "cat").startswith(
        "**1,234 test images** of cats are called **cat** (right); here are the 24")
    assert describe_cell(5, 5, "automobile", "truck").startswith(
        "**5 test images** of automobiles are called **truck** (wrong), most sure first.")
    assert describe_cell(1, 1, "airplane", "bird").startswith(
        "**1 test image** of an airplane is called **bird** (wrong).")


def test_an_empty_cell_says_how_many_images_of_the_class_there_are():
    assert describe_empty_cell(1_000, "airplane", "cat") == "None of the 1,000 test images of airplanes is called **cat**."
    assert describe_empty_cell(10, "deer", "horse") == "None of the 10 test images of deer is called **horse**."
    assert describe_empty_cell(1, "automobile", "ship") == "The one test image of an automobile is not called **ship**."
    assert describe_empty_cell(0, "airplane", "cat") == "There is no test image of an airplane."
