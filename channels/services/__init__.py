"""Channel rules: the lifecycle (lifecycle.py), the bind job (binding.py), what uses a channel
(usage.py) and the menu's name (menu.py). Called by the admin and the tasks alike."""
