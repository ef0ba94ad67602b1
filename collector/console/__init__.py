"""The operator's console: the CLI's commands, and the admin socket that runs them in the serving
process."""
