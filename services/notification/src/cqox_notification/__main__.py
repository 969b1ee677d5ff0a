"""`python -m cqox_notification` runs the notification service."""

from cqox_notification.app import main

main()
