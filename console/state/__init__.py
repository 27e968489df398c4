"""Desired state: configurations (YAML) checked and applied on hosts over the existing
transports, reports and node statuses (see console.state.model)."""
