"""Domain errors: a refused command records nothing."""


class DomainError(Exception):
    """A command that the current state does not allow."""


class TransitionNotAllowed(DomainError):
    def __init__(self, serial: str, status: str, action: str) -> None:
        super().__init__(f"device {serial}: cannot {action} while {status}")
        self.serial = serial
        self.status = status
        self.action = action


class TimeMovesBackwards(DomainError):
    """A command dated before the last change of the aggregate (a wrong clock, a backdated --now)."""
