"""Update management: assessments of pending updates and deployments that install
them within maintenance windows (see console.updates.model)."""
