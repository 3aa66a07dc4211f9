"""Real RFT: rubric rewards in TRL GRPO, LLM judges and proposers, the offline triage task."""
