"""The Streamlit app driven headlessly with AppTest, on a tiny config set through session state."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from app_session import open_app, point_app
from streamlit.testing.v1 import AppTest

from vaeimb.presentation.report import LEAK_WARNING

TINY = {
    "cfg_n_majority": 300, "cfg_n_minority": 20, "cfg_steps": 30, "cfg_batch_size": 32,
    "cfg_generator_steps": 20, "cfg_generator_batch_size": 16, "cfg_n_checkpoints": 3, "cfg_latent_dim": 6, "cfg_n_seeds": 1,
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One cache for the module, so a config trained once is a cache hit for later tests.
    No test relies on another having run: one that needs results presses Run itself."""
    return tmp_path_factory.mktemp("app-cache")


@pytest.fixture
def new_app(monkeypatch, cache_dir, mnist_dir):
    """Makes a fresh app session (its own session state) on the tiny config."""
    point_app(monkeypatch, cache_dir, mnist_dir)  # trains in this process (monkeypatches reach it); see below
    return lambda: open_app(TINY)


@pytest.fixture
def app(new_app) -> AppTest:
    return new_app()


def _decode(obj):
    """Plotly >= 6 ships numeric arrays as base64 ``{"dtype", "bdata", "shape"}``: unpack them."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            shape = obj.get("shape")
            return arr.reshape([int(n) for n in str(shape).split(",")]).tolist() if shape else arr.tolist()
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def plotly_figures(at: AppTest) -> list[dict]:
    """The figures of every st.plotly_chart on the page, as plain JSON."""
    return [_decode(json.loads(el.proto.spec)) for el in at.get("plotly_chart")]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def run_experiment_page(at: AppTest) -> AppTest:
    at.run()
    button(at, "Run").click().run()
    assert not at.exception, at.exception
    return at


def test_entry_page_explains_and_waits_for_run(app, monkeypatch, tmp_path):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path / "empty-cache"))  # nothing finished yet, whatever ran before
    app.run()
    assert not app.exception
    intro = app.markdown[0].value
    assert "sidebar" in intro and "Run" in intro
    assert app.sidebar.selectbox[0].label == "Dataset" and app.sidebar.selectbox[0].value == "mnist"
    assert app.sidebar.selectbox(key="w_cfg_majority").label == "Majority digit"
    assert app.sidebar.number_input(key="w_cfg_n_majority").value == 300
    assert any("press **Run**" in i.value for i in app.info)
    assert not app.get("plotly_chart")


def test_run_shows_table_charts_and_gallery(app):
    at = run_experiment_page(app)
    bars = at.get("progress")
    assert len(bars) == 6  # the VAE model, then the five approaches
    assert all(b.value == 100 for b in bars), [b.proto.text for b in bars]
    table = at.table[0].value
    assert list(table["approach"]) == ["baseline", "threshold", "oversample", "vae", "oracle"]
    misclassified = table["Misclassified test images"].astype(float)
    assert ((misclassified >= 0) & (misclassified <= 980 + 958)).all()
    assert table["Reported (original)"].tolist() == [""] * 5  # not the reference setup

    figs = plotly_figures(at)
    heatmaps = [f for f in figs if f["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 5
    assert [h["layout"]["title"]["text"] for h in heatmaps] == list(table["approach"])
    for h, mis in zip(heatmaps, misclassified):
        z = np.array(h["data"][0]["z"])
        assert z.sum() == 980 + 958  # every test image counted once
        assert z[0, 1] + z[1, 0] == mis  # the off-diagonal cells are the errors in the table
    bars = next(f for f in figs if f["data"][0]["type"] == "bar")
    assert bars["data"][0]["y"] == pytest.approx(list(misclassified))
    assert len(bars["data"]) == 1  # no reported bars outside the reference setup
    assert any(f["layout"].get("xaxis", {}).get("title", {}).get("text") == "Training step" for f in figs)

    assert [d.label for d in at.get("download_button")] == ["Download CSV", "Download JSON"]
    assert at.image and all(c.startswith("true ") for c in at.image[0].captions)

    at.toggle(key="confusion_normalised").set_value(True).run()
    heatmaps = [f for f in plotly_figures(at) if f["data"][0]["type"] == "heatmap"]
    for h in heatmaps:
        np.testing.assert_allclose(np.array(h["data"][0]["z"]).sum(1), [1.0, 1.0])


def test_finished_results_redraw_without_run(new_app):
    run_experiment_page(new_app())  # trains the tiny config into the cache (a cache hit if done before)
    fresh = new_app().run()  # a new session: nothing pressed
    assert not fresh.exception
    assert len(fresh.table) == 1 and len(fresh.get("plotly_chart")) == 7


def test_first_run_click_counts_on_finished_results(new_app):
    """A session that opens on finished results (drawn without a Run) still runs on its
    first click: a click lost between runs would leave it showing the same page."""
    run_experiment_page(new_app())  # the tiny config is finished in the cache
    fresh = new_app().run()
    assert not fresh.get("progress")  # opened on the finished results, nothing run
    button(fresh, "Run").click().run()
    assert not fresh.exception, fresh.exception
    bars = fresh.get("progress")
    assert len(bars) == 6 and all(b.value == 100 for b in bars), [b.proto.text for b in bars]


def test_sweep_plots_each_ratio(app):
    app.session_state["sweep_ratios"] = [0.05, 0.1]
    app.session_state["sweep_approaches"] = ["baseline", "oversample"]
    app.run()
    app.switch_page("pages/3_sweep.py").run()
    button(app, "Run sweep").click().run()
    assert not app.exception, app.exception
    (fig,) = plotly_figures(app)
    assert fig["layout"]["xaxis"]["type"] == "log"
    lines = [t for t in fig["data"] if t.get("mode") == "lines+markers"]  # not the ±sd bands
    assert [t["name"] for t in lines] == ["baseline", "oversample"]
    assert all(t["x"] == [0.05, 0.1] for t in lines)
    assert len(app.dataframe[0].value) == 4


def test_about_page_states_the_original_numbers(app):
    app.run()
    app.switch_page("pages/4_about.py").run()
    assert not app.exception
    text = "\n".join(m.value for m in app.markdown)
    assert "70 of 1938" in text and "30 of 1938" in text and "TEST" in text


def test_same_digit_twice_is_an_error_not_a_crash(app):
    app.session_state["cfg_minority"] = 0
    app.run()
    assert not app.exception
    assert "two different digits" in app.error[0].value
    assert not [b for b in app.button if b.label == "Run"]


def test_too_many_images_names_the_limit(app):
    app.session_state["cfg_n_majority"] = 9000
    app.run()
    assert not app.exception
    assert "5923" in app.error[0].value


def test_leaky_protocol_is_labelled(app):
    app.session_state["cfg_protocol"] = "blog"
    app.run()
    assert not app.exception
    assert any(LEAK_WARNING in w.value for w in app.warning)


def test_missing_mnist_names_the_env_var(app, monkeypatch, tmp_path, unreachable_mnist_mirror):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(empty))  # torchvision's download is tried, and fails
    app.session_state["cfg_steps"] = 31  # a config not in the cache
    app.run()
    button(app, "Run").click().run()
    assert not app.exception
    msg = app.error[0].value
    assert "VAEIMB_DATA_DIR" in msg and "train-images-idx3-ubyte.gz" in msg and "Traceback" not in msg


def test_tiny_preset_from_the_environment(monkeypatch, cache_dir, mnist_dir):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("VAEIMB_APP_PRESET", "tiny")
    at = open_app().run()
    assert not at.exception
    assert at.sidebar.number_input(key="w_cfg_n_majority").value == 300
    assert at.sidebar.number_input(key="w_cfg_steps").value == 30


@pytest.mark.filterwarnings("ignore:vae .seed 0. failed:RuntimeWarning")
def test_a_failing_approach_is_an_error_and_the_others_stay(app, monkeypatch):
    from vaeimb.parts.generators.vae import VaeGenerator

    def broken(self, *a, **k):
        raise RuntimeError("simulated out-of-memory")

    monkeypatch.setattr(VaeGenerator, "_fit", broken)
    app.session_state["cfg_approaches"] = ["baseline", "vae"]
    app.session_state["cfg_steps"] = 29  # a config of its own, so nothing comes from the cache:
    app.session_state["cfg_generator_steps"] = 19  # neither the classifiers nor the VAE
    run_experiment_page(app)
    assert any("vae" in e.value and "simulated out-of-memory" in e.value for e in app.error), app.error
    approaches = list(app.table[0].value["approach"])
    assert "baseline" in approaches and "vae" not in approaches
    heatmaps = [f for f in plotly_figures(app) if f["data"][0]["type"] == "heatmap"]
    assert [h["layout"]["title"]["text"] for h in heatmaps] == approaches


def test_the_app_trains_in_worker_processes(app, monkeypatch, cache_dir):
    """The app's default on 2+ cores: the server only gathers what its workers computed,
    each job on one torch thread however many cores the host has (faked: 16)."""
    import vaeimb.parts.training as T
    import vaeimb.running.executor as X

    monkeypatch.setenv("VAEIMB_APP_WORKERS", "2")
    monkeypatch.delenv("VAEIMB_THREADS", raising=False)
    monkeypatch.setattr(X, "usable_cores", lambda: 16)
    monkeypatch.setattr(T, "usable_cores", lambda: 16)
    monkeypatch.setattr(T, "train_classifier", lambda *a, **k: pytest.fail("trained in the server process"))
    app.session_state["cfg_approaches"] = ["baseline", "oversample"]
    app.session_state["cfg_steps"] = 27  # a config of its own: nothing from the cache
    run_experiment_page(app)
    assert not app.exception and not app.error
    assert set(app.table[0].value["approach"]) == {"baseline", "oversample"}
    threads = {e["environment"]["threads"] for e in _environments(cache_dir)}
    assert threads == {1}  # threads per job never depend on the host's cores (threads_from_env)


def _environments(cache_dir):
    import json

    for p in (cache_dir / "classifier").glob("*.npz"):
        with np.load(p) as npz:
            yield json.loads(str(npz["__meta__"]))["info"]


def test_minority_as_a_ratio_reaches_a_fifth_of_a_percent(app):
    app.session_state["cfg_n_majority"] = 5000
    app.session_state["cfg_minority_mode"] = "ratio"
    app.session_state["cfg_ratio_pct"] = 0.2
    app.run()
    assert not app.exception
    assert app.sidebar.select_slider(key="w_cfg_ratio_pct").value == 0.2
    assert any(c.value == "= 10 minority training images" for c in app.sidebar.caption)
    assert any("5000/10 (0.2% minority)" in c.value for c in app.caption)


def test_switching_to_the_blog_protocol_takes_the_original_budget(app):
    app.run()
    app.sidebar.selectbox(key="w_cfg_protocol").set_value("blog").run()
    assert not app.exception
    assert (app.session_state["cfg_steps"], app.session_state["cfg_batch_size"]) == (1000, 128)
    assert (app.session_state["cfg_generator_steps"], app.session_state["cfg_generator_batch_size"]) == (1000, 100)
    assert any(LEAK_WARNING in w.value for w in app.warning)


def test_protocol_budget_switches_only_between_families():
    from vaeimb_app.settings import budget_for_protocol_switch

    assert budget_for_protocol_switch("blog", "blog-clean") == {}  # a budget set within a family stays
    assert budget_for_protocol_switch("clean", "clean") == {}
    assert budget_for_protocol_switch("blog-clean", "clean")["cfg_steps"] == 500
    assert budget_for_protocol_switch("clean", "blog-clean")["cfg_batch_size"] == 128


def test_about_page_says_when_the_shipped_results_come_from_other_code(app, monkeypatch):
    import vaeimb.declarations.provenance as P
    from vaeimb.presentation.reference import load_reference

    shipped = {e["environment"]["code"] for e in load_reference()["classifiers"].values()}
    monkeypatch.setattr(P, "code_fingerprint", lambda: "running-code")
    app.run()
    app.switch_page("pages/4_about.py").run()
    notes = [m.value for m in app.info if "the code running here is running-code" in m.value and "The shipped" in m.value]
    assert len(notes) == len(load_reference()["classifiers"]) and all(any(c in n for c in shipped) for n in notes)
    for code in shipped:  # running the code that made them: no note about them
        monkeypatch.setattr(P, "code_fingerprint", lambda: code)
        app.switch_page("pages/4_about.py").run()
        assert not any(f"made by code {code};" in m.value for m in app.info)


# ---- results on first view: the shipped results of the default settings ---------------
@pytest.fixture
def default_app(monkeypatch, tmp_path, mnist_dir):
    """A fresh install: the app's default settings, an empty cache, nothing trained."""
    point_app(monkeypatch, tmp_path / "fresh-cache", mnist_dir)
    return open_app()


def test_a_fresh_install_shows_the_shipped_results_labelled(default_app):
    from vaeimb.presentation.report import display_rows
    from vaeimb.running import result_files

    at = default_app.run()
    assert not at.exception, at.exception
    provenance = result_files.load_provenance()
    label = next(i.value for i in at.info if i.value.startswith("Shipped results:"))
    assert label.startswith(result_files.label(provenance))
    for part in (provenance["made"], provenance["cpu"], "python bench/ship_default.py", provenance["code"]):
        assert part in label
    assert not any("press **Run**" in i.value and "No results" in i.value for i in at.info)
    assert any(b.label == "Run" for b in at.button)  # to recompute them here
    expected = display_rows(result_files.load_result())
    assert at.table[0].value["Misclassified test images"].tolist() == [r["Misclassified test images"] for r in expected]
    assert len(at.get("plotly_chart")) == 7 and at.image  # the charts and the gallery of mistakes


def test_shipped_results_say_when_the_running_code_differs(default_app, monkeypatch):
    import vaeimb.declarations.provenance as P
    from vaeimb.running import result_files

    made = result_files.load_provenance()["code"]
    monkeypatch.setattr(P, "code_fingerprint", lambda: made)
    at = default_app.run()
    assert not any("the code running here" in w.value for w in at.warning)
    monkeypatch.setattr(P, "code_fingerprint", lambda: "running-code")
    at.run()
    (note,) = [w.value for w in at.warning if "the code running here is running-code" in w.value]
    assert note.startswith(f"These shipped results were made by code {made};")


def test_the_users_own_results_replace_the_shipped_ones(default_app):
    """An exported Run of the default settings (as a Run's child process writes it) wins."""
    from vaeimb.running import result_files
    from vaeimb_app import runs

    at = default_app.run()
    assert any(i.value.startswith("Shipped results:") for i in at.info)
    own = result_files.load_result()
    own.runs["baseline"][0].metrics["misclassified"] = 999.0  # recognisably ours
    settings = runs.Settings(own.config, own.approaches, own.seeds)
    result_files.save_result(own, runs.exported_folder(settings), result_files.made_here("the app's Run"))
    fresh = open_app().run()  # a new session on the same cache
    assert not fresh.exception, fresh.exception
    assert not any(i.value.startswith("Shipped results:") for i in fresh.info)
    from vaeimb.presentation.report import display_rows

    shown = fresh.table[0].value["Misclassified test images"].tolist()
    assert shown == [r["Misclassified test images"] for r in display_rows(own)]
    assert shown != [r["Misclassified test images"] for r in display_rows(result_files.load_result())]


def test_the_latent_page_explores_the_shipped_vae(default_app):
    at = default_app.run()
    at.switch_page("pages/2_latent_space.py").run()
    assert not at.exception, at.exception
    assert any(i.value.startswith("Shipped vae generator: made ") for i in at.info)
    assert not any("not trained yet" in i.value for i in at.info)
    assert at.get("plotly_chart")  # the latent map, from the shipped weights


def test_the_first_page_draws_the_shipped_results_without_torch(tmp_path, mnist_dir):
    """The server loads torch only to train or explore a generator: not for the first page,
    nor for a Run that trains in a child process (start-up time and memory, issue #17)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import sys; from streamlit.testing.v1 import AppTest; "
            f"at = AppTest.from_file({str(root / 'app.py')!r}, default_timeout=120).run(); "
            "assert not at.exception, at.exception; assert at.table, 'no results shown'; "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    env = {**os.environ, "VAEIMB_CACHE_DIR": str(tmp_path / "cache"), "VAEIMB_DATA_DIR": str(mnist_dir),
           "VAEIMB_APP_WORKERS": "2"}
    env.pop("VAEIMB_APP_PRESET", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_progress_board_sends_only_what_changed(monkeypatch, tiny_config):
    """Each message reaches every open tab, whose page is redrawn for it: a bar in 5 % steps,
    the line above the bars only when the job or seed changes."""
    from types import SimpleNamespace

    from vaeimb.declarations.jobs import ProgressEvent
    from vaeimb_app import runs

    sent = []

    class Element:
        def __init__(self, name):
            self.name = name

        def progress(self, frac, text=""):
            sent.append((self.name, round(frac, 2), text))

        def markdown(self, text):
            sent.append((self.name, text))

    monkeypatch.setattr(runs, "st", SimpleNamespace(empty=lambda: Element("now"),
                                                    progress=lambda frac, text="": Element(text.split(":")[0])))
    board = runs.ProgressBoard(tiny_config, ["baseline", "oversample"], [0, 1])
    for done in (1, 2, 3, 10, 11):  # 1-3: one 5 % step; 10, 11: the next
        board(ProgressEvent("baseline", 0, done, 100, "running"))
    board(ProgressEvent("baseline", 0, 100, 100, "done"))
    board(ProgressEvent("baseline", 1, 4, 100, "running"))
    assert sent == [
        ("baseline · seed 0", 0.01, "baseline · seed 0: step 1/100"),
        ("now", "Training the MLP classifier for **baseline** (seed 0)"),
        ("baseline · seed 0", 0.1, "baseline · seed 0: step 10/100"),
        ("baseline · seed 0", 1.0, "baseline · seed 0: done"),
        ("baseline · seed 1", 0.04, "baseline · seed 1: step 4/100"),
        ("now", "Training the MLP classifier for **baseline** (seed 1)"),
    ]
