"""What every orchestration rule is: a guard for a set of (from, to) state-type pairs."""

from runs.models import TERMINAL_STATE_TYPES, StateType

# Every state type plus None, which stands for "the run has no state yet".
ANY_STATE = frozenset({*StateType.values, None})
TERMINAL_STATES = frozenset(str(state_type) for state_type in TERMINAL_STATE_TYPES)


class Rule:
    """One rule of an orchestration policy.

    The engine instantiates a rule for each transition whose intended (from, to) pair it governs
    and calls `before_transition` while the proposal still has the intended type. A rule decides
    through the context (reject / wait / abort / rename). If the intended transition is finally
    written, `after_transition` runs; if another rule changed or withdrew it, `cleanup` runs so the
    rule can undo what it did to the run. The rule that made the decision gets neither: its
    side effects are part of the decision.
    """

    FROM_STATES: frozenset = ANY_STATE
    TO_STATES: frozenset = ANY_STATE

    @classmethod
    def governs(cls, from_type, to_type) -> bool:
        return from_type in cls.FROM_STATES and to_type in cls.TO_STATES

    def before_transition(self, ctx) -> None:
        pass

    def after_transition(self, ctx) -> None:
        pass

    def cleanup(self, ctx) -> None:
        pass

    def __repr__(self):
        return type(self).__name__
