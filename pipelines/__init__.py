"""The ZenML layer's entry points: the pipelines (wiring only, `instructzero.pipelines.search`, `instructzero.pipelines.recheck`), how to run
them (`instructzero.pipelines.run`), stacks and schedules (`instructzero.pipelines.stack`), and the registry's read side (`instructzero.pipelines.registry`)."""
