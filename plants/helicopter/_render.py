"""Headless rendering of the helicopter env (matplotlib Agg; imported lazily)."""

from __future__ import annotations

import numpy as np

__all__ = ["make_figure", "render_rgb"]


def make_figure():
    """Create the figure and artists used by :func:`render_rgb` (no pyplot, no GUI)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle
    except ImportError as exc:  # pragma: no cover - matplotlib is a core dependency
        raise ImportError("rendering needs matplotlib: pip install matplotlib") from exc
    fig = Figure(figsize=(3.2, 4.0), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.22, 0.08, 0.74, 0.78))
    ax.set_xlim(-1.0, 1.0)
    ax.set_ylim(-0.2, 2.3)
    ax.set_xticks([])
    ax.set_ylabel("altitude (m)")
    ax.plot([0.0, 0.0], [0.0, 2.1], color="0.4", lw=3)              # the stand
    ax.axhline(0.0, color="k", lw=1)
    ax.axhline(2.0, color="k", lw=1, ls=":")
    body = Rectangle((-0.3, 0.0), 0.6, 0.12, color="tab:blue")
    ax.add_patch(body)
    (rotor,) = ax.plot([-0.8, 0.8], [0.18, 0.18], color="tab:gray", lw=2)
    (target,) = ax.plot([-0.9, 0.9], [1.0, 1.0], color="tab:red", ls="--", lw=1)
    text = fig.text(0.02, 0.9, "", fontsize=8, family="monospace")
    return fig, body, rotor, target, text


def render_rgb(handles, x, setpoint, u, time, params) -> np.ndarray:
    """Draw the state ``x`` and return an RGB array of shape (H, W, 3), uint8."""
    fig, body, rotor, target, text = handles
    z = float(x[1])
    body.set_y(z)
    rotor.set_ydata([z + 0.18, z + 0.18])
    target.set_ydata([setpoint[1], setpoint[1]])
    text.set_text(f"t={time:6.2f} s  omega={x[0]:6.1f} rad/s\n"
                  f"theta={np.degrees(x[3]):5.2f} deg  u=({u[0]:.0f}, {u[1]:.0f})")
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
