"""WeChat adapters: the only place that talks to WeChat's HTTP APIs."""
