"""Draw a run's timeline: which queue issues a unit instruction in which cycle."""

from __future__ import annotations


def draw_timeline(issues, config, cycles: int, path: str, fmt: str = "png") -> None:
    """Write the timeline to exactly ``path``, as ``fmt`` (png, svg, pdf), whatever its name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [q.name for q in config.queues]
    row = {n: i for i, n in enumerate(names)}
    fig, ax = plt.subplots(figsize=(12, 0.35 * len(names) + 1.2))
    per_queue: dict[str, list[int]] = {}
    for cycle, queue, _ in issues:
        per_queue.setdefault(queue, []).append(cycle)
    for queue, cs in per_queue.items():
        ax.broken_barh([(c, 1) for c in cs], (row[queue] - 0.4, 0.8), linewidth=0)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, max(cycles, 1))
    ax.set_xlabel("cycle")
    ax.set_title(f"unit issues per queue ({cycles} cycles)")
    fig.tight_layout()
    fig.savefig(path, dpi=100, format=fmt)
    plt.close(fig)
