"""The ZenML layer's entry points: the pipelines (wiring only, `pipelines.search`, `pipelines.recheck`), how to run
them (`pipelines.run`), stacks and schedules (`pipelines.stack`), and the registry's read side (`pipelines.registry`)."""
