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


def describe_checkpoint(checkpoint):
    """'step 1,500, test accuracy 66.7% (quick)'."""
    accuracy = f", test accuracy {checkpoint.test_accuracy:.1%}" if checkpoint.test_accuracy is not None else ""
    return f"step {checkpoint.step:,}{accuracy} ({checkpoint.preset})"
