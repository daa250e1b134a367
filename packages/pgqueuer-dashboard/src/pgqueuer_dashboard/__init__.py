"""pgqueuer-dashboard: queue statistics as data and as live views."""
