"""The main window: sidebar navigation, pages, connection state, shortcuts."""
