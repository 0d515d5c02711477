"""How the pages put numbers, times and runs into words."""
import time


def format_duration(seconds):
    """'2 h 05 min', '3 min 20 s', '12 s'; '–' when unknown."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def format_time(timestamp):
    """Seconds since the epoch -> '2024-05-01 14:03' in this computer's time zone."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def format_age(timestamp):
    """How long ago: 'just now', '5 min ago', '3 h ago', '2 days ago'."""
    seconds = max(0, time.time() - timestamp)
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"


def describe_run(status):
    """One line for a TrainingStatus: 'running: step 1,200 of 12,000'."""
    if status.state == "idle":
        return "idle: nothing has been trained since the dashboard started"
    if not status.target_step:  # the thread is still loading data and building the network
        return f"{status.state}: {status.message}"
    return f"{status.state}: step {status.step:,} of {status.target_step:,}"


def describe_point(checkpoint):
    """A timeline point, short enough for a slider: 'step 0 (untrained) · 10%', 'step 1,500 · 66.7%'."""
    accuracy = f" · {checkpoint.test_accuracy:.0%}" if checkpoint.test_accuracy is not None else ""
    return f"step {checkpoint.step:,}{' (untrained)' if checkpoint.step == 0 else ''}{accuracy}"


# Class names in sentences. CIFAR-10's are airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck.
IRREGULAR_PLURALS = {"deer": "deer", "sheep": "sheep", "fish": "fish", "mouse": "mice", "person": "people"}
TAKE_A = {"one", "once", "uniform", "unicorn", "university", "user"}  # a vowel letter sounding like a consonant
TAKE_AN = {"hour", "honest", "honour", "heir"}  # a silent h


def article(noun):
    """'a' or 'an' for the noun's sound: 'an airplane', 'a truck' (by its first letter, with a few exceptions)."""
    word = noun.split()[0].lower() if noun.split() else ""
    if word in TAKE_A:
        return "a"
    return "an" if word[:1] in tuple("aeiou") or word in TAKE_AN else "a"


def with_article(noun):
    """'an airplane', 'a cat'."""
    return f"{article(noun)} {noun}"


def plural(noun):
    """'airplanes', 'deer', 'boxes', 'lorries' (English rules; last word only, so 'test image' -> 'test images')."""
    head, _, last = noun.rpartition(" ")
    lower = last.lower()
    if lower in IRREGULAR_PLURALS:
        last = IRREGULAR_PLURALS[lower]
    elif lower.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif lower.endswith("y") and lower[-2:-1] not in tuple("aeiou"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def count_of(count, noun):
    """'1 test image', '1,234 test images', '0 test images' (thousands separated)."""
    return f"{count:,} {noun if count == 1 else plural(noun)}"


def describe_cell(count, shown, true_name, pred_name):
    """A confusion-matrix cell's gallery: '**120 test images** of deer are called **horse** (wrong); here are the
    24 it was most sure of. ...', '**1 test image** of an airplane is called **cat** (wrong). ...'."""
    verdict = "right" if true_name == pred_name else "wrong"
    what = f"of {with_article(true_name)} is" if count == 1 else f"of {plural(true_name)} are"
    more = (f"; here are the {shown:,} it was most sure of" if count > shown
            else ", most sure first" if count > 1 else "")
    return (f"**{count_of(count, 'test image')}** {what} called **{pred_name}** ({verdict}){more}. "
            "The caption is the probability it gave its answer.")


def describe_empty_cell(class_count, true_name, pred_name):
    """A cell with no image: 'None of the 1,000 test images of airplanes is called **cat**.'"""
    if class_count == 0:
        return f"There is no test image of {with_article(true_name)}."
    if class_count == 1:
        return f"The one test image of {with_article(true_name)} is not called **{pred_name}**."
    return f"None of the {count_of(class_count, 'test image')} of {plural(true_name)} is called **{pred_name}**."
