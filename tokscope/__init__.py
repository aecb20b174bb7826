"""tokscope: token and cost usage of AI coding agents, across clients and devices."""

__version__ = "0.1.0"
