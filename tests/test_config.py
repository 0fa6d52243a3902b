from pathlib import Path

import pytest

from instructzero.config import RunConfig, load_config, parse_config
from instructzero.errors import ConfigError


def test_defaults_follow_the_paper():
    config = RunConfig()
    assert (config.projection.intrinsic_dim, config.whitebox.n_soft_tokens, config.task.n_exemplars) == (10, 5, 5)
    assert config.task.n_validation == 20 and config.max_instructions == 25 + 5 * 25


def test_unknown_keys_and_bad_values_are_rejected_with_their_path():
    with pytest.raises(ConfigError, match=r"bo\.n_roudns: Extra inputs"):
        parse_config({"bo": {"n_roudns": 3}})
    with pytest.raises(ConfigError, match=r"bo\.q: Input should be greater than or equal to 1"):
        parse_config({"bo": {"q": 0}})
    with pytest.raises(ConfigError, match="base_url is required"):
        parse_config({"blackbox": {"backend": "openai"}})
    with pytest.raises(ConfigError, match="task.path is required"):
        parse_config({"task": {"source": "file"}})
    assert parse_config({"task": {"source": "instruction_induction", "name": "antonyms"}}).task.data_dir is None


def test_load_config_reports_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("bo: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text("seed: 4\nbo:\n  n_rounds: 2\n")
    config = load_config(good, overrides={"bo": {"q": 3}})
    assert (config.seed, config.bo.n_rounds, config.bo.q) == (4, 2, 3)


def test_every_shipped_config_is_valid():
    from pathlib import Path

    from instructzero.benchmark.config import load_benchmark_config
    from instructzero.config.fleet import load_fleet

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert len(configs) >= 3
    for path in configs:
        if path.name.startswith("benchmark"):
            assert load_benchmark_config(path).tasks, path
        else:  # a run config, or a fleet of them
            assert all(config.max_instructions > 0 for config in load_fleet(path).tasks.values()), path


def test_kubernetes_model_volume_schedule_and_job_ttl_are_typed():
    k8s = parse_config({"kubernetes": {"model_volume": {"claim_name": "instructzero-models"}}}).kubernetes
    assert (k8s.model_volume.mount_path, k8s.model_volume.read_only) == ("/models", True)
    assert (k8s.job_ttl_s, k8s.schedule.concurrency_policy, k8s.model_volume is not None) == (86_400, "Forbid", True)
    assert RunConfig().kubernetes.model_volume is None
    with pytest.raises(ConfigError, match=r"kubernetes\.model_volume\.claim_name: String should match pattern"):
        parse_config({"kubernetes": {"model_volume": {"claim_name": "Models_PVC"}}})
    with pytest.raises(ConfigError, match=r"kubernetes\.model_volume\.mount_path: String should match pattern"):
        parse_config({"kubernetes": {"model_volume": {"claim_name": "models", "mount_path": "models/"}}})
    with pytest.raises(ConfigError, match=r"kubernetes\.model_volume\.claim_name: Field required"):
        parse_config({"kubernetes": {"model_volume": {"mount_path": "/models"}}})
    with pytest.raises(ConfigError, match=r"kubernetes\.schedule\.concurrency_policy: Input should be 'Forbid'"):
        parse_config({"kubernetes": {"schedule": {"concurrency_policy": "forbid"}}})
    with pytest.raises(ConfigError, match=r"kubernetes\.job_ttl_s: Input should be greater than or equal to 0"):
        parse_config({"kubernetes": {"job_ttl_s": -1}})
    assert parse_config({"kubernetes": {"job_ttl_s": None}}).kubernetes.job_ttl_s is None


def test_kubernetes_retry_delay_s_is_refused_in_one_line_naming_the_fix():
    with pytest.raises(ConfigError) as caught:
        parse_config({"kubernetes": {"step_retries": 2, "retry_delay_s": 30}})
    message = str(caught.value)
    assert "\n" not in message and "kubernetes: Value error, retry_delay_s was removed" in message
    assert "delete the key" in message


def test_messages_name_the_config_command_not_a_repository_path(tmp_path, monkeypatch, capsys):
    """Right in a checkout and from an installed wheel alike: one line, naming `instructzero config ...`."""
    from instructzero.benchmark.config import load_benchmark_config
    from instructzero.cli import main

    monkeypatch.chdir(tmp_path)  # no configs/ here, as for a user of the wheel
    for load, path, command in ((load_config, "mine.yaml", "`instructzero config copy local my.yaml`"),
                                (load_benchmark_config, "grid.yaml",
                                 "`instructzero config copy benchmark my-benchmark.yaml`")):  # fmt: skip
        with pytest.raises(ConfigError) as caught:
            load(path)
        message = str(caught.value)
        assert "\n" not in message and f"{path} not found" in message and command in message
        assert "configs/" not in message
    with pytest.raises(ConfigError) as caught:
        parse_config({"bo": {"q": 0}})
    message = str(caught.value)
    assert "\n" not in message and message.endswith("(an example: `instructzero config show local`).")

    # The commands named exist and print or copy the repository's own configs/ (what the wheel ships).
    shipped = Path(__file__).resolve().parents[1] / "configs"
    assert main(["config", "show", "local"]) == 0
    assert capsys.readouterr().out == (shipped / "local.yaml").read_text()
    assert main(["config", "copy", "benchmark", "my-benchmark.yaml"]) == 0
    assert capsys.readouterr().out.startswith("wrote my-benchmark.yaml (the example 'benchmark')")
    assert (tmp_path / "my-benchmark.yaml").read_text() == (shipped / "benchmark.yaml").read_text()
    assert load_benchmark_config("my-benchmark.yaml").tasks
    assert main(["config", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [row.split()[0] for row in listed] == sorted(p.stem for p in shipped.glob("*.yaml"))
    assert any(row.startswith("local ") and "offline" in row for row in listed)
    # Refusals are one line each: an existing file, an unknown example, no example named.
    for argv, expected in ((["config", "copy", "benchmark", "my-benchmark.yaml"], "my-benchmark.yaml exists"),
                           (["config", "show", "nope"], "no example config 'nope'"),
                           (["config", "show"], "name the example config")):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err
    assert main(["config", "copy", "local", "my-benchmark.yaml", "--force"]) == 0


def test_benchmark_without_config_falls_back_to_the_packaged_example(tmp_path, monkeypatch, capsys):
    import instructzero.benchmark
    from instructzero.cli import main
    from instructzero.config.examples import example_path

    read: list[Path] = []

    def stop(path):
        read.append(Path(path))
        raise ConfigError("stop here")

    monkeypatch.setattr(instructzero.benchmark, "load_benchmark_config", stop)
    monkeypatch.chdir(tmp_path)  # no configs/benchmark.yaml here: the packaged example, said in one line
    assert main(["benchmark"]) == 2 and read == [example_path("benchmark")]
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("benchmark: no configs/benchmark.yaml in this folder; using the packaged example "
                      "(`instructzero config show benchmark`)")  # fmt: skip
    (tmp_path / "configs").mkdir()  # a checkout (or a user's own configs/): its file wins, silently
    (tmp_path / "configs" / "benchmark.yaml").write_text("tasks: [sum]\n")
    assert main(["benchmark"]) == 2 and read[-1] == Path("configs/benchmark.yaml")
    assert capsys.readouterr().err == "error: stop here\n"
