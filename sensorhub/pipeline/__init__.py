"""From raw notifications to events: stream assembly now; bus and runner later."""
