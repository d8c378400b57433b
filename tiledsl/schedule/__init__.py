"""The scheduler's cost model: what a candidate schedule of a level-2 program costs on a target
(`analysis`, `cost`), the knobs' roles (`roles`) and constraints (`constraints`), and the
enumeration and ranking of the schedule space (`space`). The passes that use it (level 1 -> level
2, knob choice and substitution) and the driver (`schedule`) are in `tiledsl.passes`; the
records they produce are here (`records`).
"""

from tiledsl.schedule.records import Estimate, Schedule, Scheduled

__all__ = ["Estimate", "Schedule", "Scheduled"]
