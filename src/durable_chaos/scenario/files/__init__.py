"""From a file's bytes to a parsed document that can say the line of any field: safe reading (regular
files, size cap, UTF-8), YAML and TOML readers within limits, and line finding. Nothing here knows the
scenario model (:mod:`durable_chaos.scenario.model`)."""
