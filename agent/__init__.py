"""``loadsense agent``: a host sampler that is itself an OTLP/HTTP metrics client.

It reports CPU, memory and disk utilisation (hostmetrics receiver names) and Linux
pressure stall information to any OTLP/HTTP endpoint, normally a Loadsense service.
See ``docs/agent.md``.
"""

from loadsense.agent.run import Agent, AgentConfig, metrics_url, run_agent

__all__ = ["Agent", "AgentConfig", "metrics_url", "run_agent"]
