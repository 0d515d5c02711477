"""The Train page's controls of the server's one run: settings, Start / Pause / Resume / Stop, a new run,
and the runs set aside. Only the teacher's browser draws them, and every callback checks the role again
on the server (roles.allowed): a student's forged click changes nothing."""
import streamlit as st

from cifar_core import checkpoints, runs
from cifar_core.config import PRESETS, SETTING_RANGES, preset
from cifar_core.training.plan import RunExists, describe_settings
from dashboard.ui import loaders, roles, state, words

PRESET_NOTES = {
    "notebook": "Exactly the notebook: Adam at a constant learning rate of 0.0001, batch 64, its strong colour "
                "distortions, batch-norm after conv1 only. About 80% after 100,000 steps: 12 hours on a 2-core CPU.",
    "default": "The same network plus batch-norm after conv2, batches of 256, a one-cycle learning rate (warm-up to "
               "a high peak, then down to 0 at the end of the run), label smoothing, weight decay and milder colour "
               "distortions: about 80% after 8,000 steps (41 epochs), not the notebook's 128.",
    "quick": "The default recipe in a short run with crops and flips only: about 70% in 1,100 steps (5.6 epochs), "
             "for a lesson that starts from nothing.",
}
SETTINGS = ("steps", "batch_size", "learning_rate", "eval_every", "checkpoint_every")


def _notice(kind, message):
    st.session_state["train_notice"] = (kind, message)


def _form_config():
    return preset(st.session_state.train_preset, **{n: st.session_state[f"train_{n}"] for n in SETTINGS})


def _job_call(action, call):
    """Run one control for the teacher only; its message (or its refusal) becomes the page's notice."""
    st.session_state.pop("train_ask", None)
    if not roles.allowed(action):
        return
    try:
        result = call(loaders.training_job())
    except ValueError as e:  # RunExists, a finished run, a run that cannot move now ...
        return _notice("warning", str(e))
    if isinstance(result, tuple):  # start(): (started, message)
        started, result = result
        return _notice("success" if started else "warning", result)
    if result:
        _notice("success", result)


def _start():
    """Start: resume a paused run; continue the run (a finished one: the form's steps more); with settings
    other than the run's, ask whether to continue it or start a new one."""
    job = loaders.training_job()
    if not roles.allowed("start training"):
        return
    if job.status().state == "paused":
        job.resume(by=roles.role())
        return _notice("success", "The run was paused: it goes on now.")
    latest = checkpoints.latest_checkpoint(loaders.checkpoint_dir())
    try:
        config = _form_config()
        started, message = job.start(config, extra_steps=_more_steps(latest, config), by=roles.role())
    except RunExists:
        st.session_state["train_ask"] = True
        return
    except ValueError as e:
        return _notice("warning", str(e))
    _notice("success" if started else "warning", message)


def _continue(config=None):
    """Continue the latest run with its own settings (config None) or the form's identical ones."""
    latest = checkpoints.latest_checkpoint(loaders.checkpoint_dir())
    config = config or (latest.config if latest else _form_config())
    extra = _more_steps(latest, config)
    _job_call("start training", lambda j: j.start(config, extra_steps=extra, by=roles.role()))


def _more_steps(latest, config):
    """Steps to add to the run's target: none for a run still on its way, config.steps for a finished one."""
    return config.steps if latest is not None and latest.step >= latest.run[1] else 0


def _new_run():
    st.session_state.pop("train_confirm_fresh", None)
    _job_call("start a new run", lambda j: j.start(_form_config(), fresh=True, by=roles.role()))


def _ask_fresh(asking):
    st.session_state["train_confirm_fresh"] = asking
    st.session_state.pop("train_ask", None)


def _apply_preset():
    for name in SETTINGS:
        state.set_choice(f"train_{name}", getattr(PRESETS[st.session_state.train_preset], name))


def settings_form(run_config):
    """The settings of the next run, starting at the current run's (else the default preset's)."""
    start = run_config or PRESETS["default"]
    state.keep_choice("train_preset", start.preset if start.preset in PRESETS else "default")
    for name in SETTINGS:
        state.keep_choice(f"train_{name}", getattr(start, name))
    name = st.radio("Preset", list(PRESETS), key="train_preset", on_change=_apply_preset, horizontal=True,
                    help="Fills in the settings below; change any of them before pressing Start.")
    st.caption(PRESET_NOTES.get(name, ""))
    c = st.columns(5)
    labels = {"steps": ("Iterations (steps)", 100, "Batches a new run trains; for a finished run, how many more."),
              "batch_size": ("Batch size", 16, "Images per step."),
              "learning_rate": ("Learning rate", 1e-4, "Adam's step size (the peak of the one-cycle schedule for "
                                                       "default and quick)."),
              "eval_every": ("Evaluate every", 50, "Steps between test-accuracy points on 1,000 test images."),
              "checkpoint_every": ("Checkpoint every", 100, "Steps between checkpoints (measured on all 10,000 "
                                                            "test images). One is saved on stop.")}
    for column, setting in zip(c, SETTINGS):
        label, step, help_text = labels[setting]
        low, high = SETTING_RANGES[setting]
        column.number_input(label, low, high, step=step, key=f"train_{setting}", help=help_text,
                            **({"format": "%.5f"} if setting == "learning_rate" else {}))


def buttons(job, status):
    with st.container(horizontal=True):
        st.button("Start", key="train_start", type="primary", on_click=_start,
                  help="Continues the run to its target step (a finished run: the steps above, more), or "
                       "resumes a paused one; a new run from step 0 when there is none yet.")
        st.button("Pause", key="train_pause", disabled=status.state != "running",
                  on_click=_job_call, args=("pause the run", lambda j: j.pause(by=roles.role())))
        st.button("Resume", key="train_resume", disabled=status.state != "paused",
                  on_click=_job_call, args=("resume the run", lambda j: j.resume(by=roles.role())))
        st.button("Stop", key="train_stop", disabled=not status.active, help="Stops after this batch and saves "
                  "a checkpoint.", on_click=_job_call, args=("stop the run", lambda j: j.stop(by=roles.role())))
        st.button("Start fresh…", key="train_fresh", on_click=_ask_fresh, args=(True,),
                  help="A new run from step 0 with the settings above; the current run is set aside, not deleted.")
    if st.session_state.get("train_ask"):
        latest = checkpoints.latest_checkpoint(job.checkpoint_dir)
        st.warning(f"The current run has other settings ({describe_settings(latest.config)}). Continue it with its "
                   "own settings, or start a new run with yours? (The current run is then set aside, not deleted: "
                   "you can restore it below.)")
        with st.container(horizontal=True):
            st.button("Continue the current run", key="train_continue", on_click=_continue)
            st.button("Start a new run with these settings", key="train_new", on_click=_new_run)
    if st.session_state.get("train_confirm_fresh"):
        st.warning("Start a new run from step 0 with new random weights? The current run is kept: it is set aside "
                   "(listed below, and restorable).")
        with st.container(horizontal=True):
            st.button("Yes, start fresh", key="train_fresh_yes", on_click=_new_run)
            st.button("Cancel", key="train_fresh_cancel", on_click=_ask_fresh, args=(False,))


def draw_notices():
    for key in ("role_notice", "train_notice"):
        notice = st.session_state.pop(key, None)
        if isinstance(notice, str):
            st.warning(notice)
        elif notice:
            getattr(st, notice[0])(notice[1])


def _ask_delete(name, stage):
    st.session_state["train_delete"] = (name, stage) if stage else None


def set_aside_runs(folder, teacher, busy):
    """The runs set aside, newest first; the teacher restores or deletes them (deleting asks twice)."""
    aside = runs.set_aside_runs(folder)
    st.subheader("Runs set aside")
    if not aside:
        st.caption("None: *Start fresh* sets the current run aside here instead of deleting it.")
        return
    asking = st.session_state.get("train_delete")
    for run in aside:
        best = f"best test accuracy {run.best_accuracy:.1%}" if run.best_accuracy is not None else "no accuracy yet"
        line, restore, delete = st.columns([6, 1, 1], vertical_alignment="center")
        line.markdown(f"**{run.name}**: set aside {words.format_time(run.set_aside_at)}, step {run.step:,}, "
                      f"{run.preset} preset, {best}")
        if not teacher:
            continue
        restore.button("Restore", key=f"train_restore_{run.name}", disabled=busy,
                       help="Makes it the current run again; the current run is set aside in turn.",
                       on_click=_job_call, args=("restore a run", lambda j, n=run.name: j.restore_run(n, by=roles.role())))
        delete.button("Delete…", key=f"train_delete_{run.name}", disabled=busy, on_click=_ask_delete,
                      args=(run.name, 1))
        if asking and asking[0] == run.name:
            st.warning(f"Delete {run.name} and its {len(run.checkpoints):,} checkpoints for good? This cannot be "
                       "undone.")
            with st.container(horizontal=True):
                st.button("Yes, delete it for good", key=f"train_delete_yes_{run.name}",
                          on_click=_delete_confirmed, args=(run.name,))
                st.button("Keep it", key=f"train_delete_no_{run.name}", on_click=_ask_delete, args=(run.name, 0))


def _delete_confirmed(name):
    asking = st.session_state.pop("train_delete", None)
    if asking != (name, 1):  # only after the first confirmation, for this very run
        return
    _job_call("delete a run", lambda j: j.delete_run(name, by=roles.role()))
