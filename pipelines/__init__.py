"""The ZenML layer's entry points (installed as `instructzero.pipelines`): the pipelines (wiring only, `search`,
`recheck`), how to run them (`run`), stacks and schedules (`stack`), and the registry's read side (`registry`)."""
