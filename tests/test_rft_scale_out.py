"""The scale-out configs parse with the CPU install (TRL's parser; vLLM is needed only when a run starts)."""

import pytest

pytest.importorskip("trl")
yaml = pytest.importorskip("yaml")


def test_the_gpu_config_parses_with_vllm_and_an_llm_judge():
    from rft.train import parse

    args, grpo = parse(["--config", "examples/real_rft/gpu_vllm.yaml", "--beta", "0.1", "--use_cpu", "true",
                        "--bf16", "false"])  # fmt: skip
    assert args.dataset == "examples/real_rft/prompts.json" and args.judge == "openai"
    assert grpo.use_vllm and grpo.vllm_mode == "server" and grpo.beta == 0.1


def test_the_cpu_example_config_parses():
    from rft.train import parse

    args, grpo = parse(["--config", "examples/real_rft/smollm2_cpu.yaml"])
    assert args.gguf_file.endswith(".gguf") and args.judge == "embedding" and args.lora_r > 0
    assert grpo.max_steps >= 60


def test_the_accelerate_config_is_multi_gpu():
    cfg = yaml.safe_load(open("examples/real_rft/accelerate_4gpu.yaml"))
    assert cfg["distributed_type"] == "MULTI_GPU" and cfg["num_processes"] == 4
