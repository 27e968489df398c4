"""How commands reach hosts: one interface for ssh, local and (later) winrm."""
