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

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert len(configs) >= 3
    for path in configs:
        if path.name.startswith("benchmark"):
            assert load_benchmark_config(path).tasks, path
        else:
            assert load_config(path).max_instructions > 0, path


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
