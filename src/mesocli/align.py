"""Face alignment as the MesoNet authors did it (their ``pipeline.py``), made fast.

From the 68 dlib landmarks: eye centres E1, E2 (points 36–41, 42–47) and their midpoint E; mouth
centre B (mean of the top-lip and bottom-lip centres, lips as face_recognition groups them); centre
C = mean of the nose-tip and nose-bridge centres. The crop is a square of side
``2.2 × max(|E1E2|, |EB|) × 1.3`` centred on C, rotated so that the eye-to-mouth line is vertical.

The authors padded a window by reflection, rotated it with a cubic spline (scipy) and cut the square
out of it. Here one bilinear affine warp (Pillow) samples the rotated square directly from a
reflect-padded window holding just that square; a crop larger than 256 px is warped at its own
resolution and then downscaled with the project's one resize (antialiased), a smaller one is warped
straight to 256×256. The authors rounded C and the side to whole pixels; this keeps them exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mesocli.preprocess import INPUT_SIZE, face_to_uint8

K_EYES_MOUTH = 2.2  # the authors' K in find_coordinates
L_FACTOR = 1.3  # the authors' l_factor in get_aligned_face
SIDE_FACTOR = K_EYES_MOUTH * L_FACTOR

LEFT_EYE = list(range(36, 42))
RIGHT_EYE = list(range(42, 48))
NOSE_BRIDGE = list(range(27, 31))
NOSE_TIP = list(range(31, 36))
TOP_LIP = list(range(48, 55)) + [64, 63, 62, 61, 60]
BOTTOM_LIP = list(range(54, 60)) + [48, 60, 67, 66, 65, 64]


@dataclass(frozen=True)
class Geometry:
    """Where the aligned square lies in the frame (pixel coordinates, x right, y down).

    ``angle`` is the face's in-plane rotation in degrees, counter-clockwise as seen on screen (the
    sense of ``PIL.Image.rotate``): the angle of the eye-to-mouth line from the vertical.
    """

    centre: tuple[float, float]
    size: float
    angle: float

    def corners(self) -> np.ndarray:
        """The square's corners in the frame: top-left, top-right, bottom-right, bottom-left of the crop."""
        half = self.size / 2
        rad = math.radians(self.angle)
        right = np.array([math.cos(rad), -math.sin(rad)]) * half  # the crop's x axis in the frame
        down = np.array([math.sin(rad), math.cos(rad)]) * half  # the crop's y axis in the frame
        centre = np.array(self.centre)
        return np.array([centre - right - down, centre + right - down, centre + right + down, centre - right + down])


def landmark_points(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """The named points of the construction: E1, E2, E, B, C (each an (x, y) array)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"expected 68 (x, y) landmarks, got shape {pts.shape}")
    e1, e2 = pts[LEFT_EYE].mean(axis=0), pts[RIGHT_EYE].mean(axis=0)
    mouth = (pts[TOP_LIP].mean(axis=0) + pts[BOTTOM_LIP].mean(axis=0)) / 2
    nose = (pts[NOSE_TIP].mean(axis=0) + pts[NOSE_BRIDGE].mean(axis=0)) / 2
    return {"E1": e1, "E2": e2, "E": (e1 + e2) / 2, "B": mouth, "C": nose}


def face_geometry(landmarks: np.ndarray) -> Geometry:
    """Centre, side and rotation of the aligned crop from 68 landmarks (the authors' find_coordinates)."""
    p = landmark_points(landmarks)
    eyes = float(np.linalg.norm(p["E1"] - p["E2"]))
    eyes_mouth = float(np.linalg.norm(p["B"] - p["E"]))
    dx, dy = p["B"] - p["E"]
    angle = math.degrees(math.atan2(dx, dy))  # = the authors' arctan(dx / dy) for upright-ish faces
    return Geometry((float(p["C"][0]), float(p["C"][1])), SIDE_FACTOR * max(eyes, eyes_mouth), angle)


def _window(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, int, int]:
    """``image[y0:y1, x0:x1]`` reflect-padded where it leaves the image, and the window's top-left corner.

    The window may start later than asked (never later than the image's last pixel) when it lies
    beyond the image: the returned corner says where it starts.
    """
    height, width = image.shape[:2]
    ya, xa = min(max(y0, 0), height - 1), min(max(x0, 0), width - 1)
    yb, xb = max(min(y1, height), ya + 1), max(min(x1, width), xa + 1)
    top, left = max(ya - y0, 0), max(xa - x0, 0)
    pads = ((top, max(y1 - yb, 0)), (left, max(x1 - xb, 0)), (0, 0))
    window = image[ya:yb, xa:xb]
    if any(a or b for a, b in pads[:2]):
        window = np.pad(window, pads, mode="reflect" if min(window.shape[:2]) > 1 else "edge")
    return window, xa - left, ya - top


def aligned_crop(image: np.ndarray, geometry: Geometry, size: int = INPUT_SIZE) -> np.ndarray:
    """Cut the rotated square of ``geometry`` out of an H×W×3 uint8 RGB image, upright, as size×size."""
    side = max(geometry.size, 1.0)
    out = size if side <= size else math.ceil(side)  # downscaling goes through the antialiased resize
    rad = math.radians(geometry.angle)
    cos, sin = math.cos(rad), math.sin(rad)
    half = side / 2 * (abs(cos) + abs(sin)) + 2  # half-extent of the rotated square, plus the filter
    cx, cy = geometry.centre
    x0, y0 = math.floor(cx - half), math.floor(cy - half)
    x1, y1 = math.ceil(cx + half) + 1, math.ceil(cy + half) + 1
    window, wx, wy = _window(image, x0, y0, x1, y1)
    # Pillow samples at continuous coordinates (pixel k covers [k, k+1)); dlib points are pixel indices.
    px, py = cx + 0.5 - wx, cy + 0.5 - wy
    scale = side / out
    a, b = scale * cos, scale * sin
    d, e = -scale * sin, scale * cos
    coefficients = (a, b, px - out / 2 * (a + b), d, e, py - out / 2 * (d + e))
    warped = Image.fromarray(np.ascontiguousarray(window)).transform(
        (out, out), Image.Transform.AFFINE, coefficients, resample=Image.Resampling.BILINEAR
    )
    return face_to_uint8(warped)
