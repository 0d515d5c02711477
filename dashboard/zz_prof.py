import cProfile, os, time
_pr = cProfile.Profile()
_t = time.perf_counter()
_pr.enable()
_src = open(os.environ["PROF_PAGE"]).read()
exec(compile(_src, os.environ["PROF_PAGE"], "exec"), {"__name__": "__main__"})
_pr.disable()
_PROF_TIMES.append(time.perf_counter() - _t) if "_PROF_TIMES" in globals() else None
import builtins
builtins.__dict__.setdefault("_prof_runs", []).append((time.perf_counter() - _t, _pr))
