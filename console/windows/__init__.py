"""Windows hosts: running PowerShell scripts that answer in JSON, and telling a Windows host."""
