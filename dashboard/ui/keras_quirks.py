"""Keep Streamlit from resetting Keras after every script run (see keep_keras_state)."""
import gc
import sys


def _leave_keras_alone(*args, **kwargs):
    """Stands in for keras.backend.clear_session in this server (see keep_keras_state)."""


def keep_keras_state():
    """Stop Streamlit from resetting Keras after every script run.

    Once Keras is imported, Streamlit 1.67 calls keras.backend.clear_session() at the end of every run (to
    free a notebook-style app's models). Here that is a full garbage collection of TensorFlow's objects,
    ~0.2 s holding the interpreter, after every click and every tick of the Train page (the training
    thread waits for it too), and it clears TensorFlow's kernel cache under the training thread. This
    server keeps its models on purpose (the training run, one model per checkpoint in the cache), and
    nothing in it needs clear_session. Called on every script run and after every TensorFlow import here.
    """
    backend = getattr(sys.modules.get("keras"), "backend", None)  # None until Keras is (fully) imported
    if backend is not None and backend.clear_session is not _leave_keras_alone:
        backend.clear_session = _leave_keras_alone
        # TensorFlow's and Keras' ~400,000 import-time objects stay for the server's life: keep them out
        # of Python's own full collections too (each scanned them all: ~0.2 s).
        gc.freeze()
