"""The training augmentation: `Augment`, computed for a whole batch at once on the device, and
the Gaussian blur it (and the corruption suite) smooths with. Its levers' names (`LEVERS`) are
read from its fields."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F

from .data import MEAN, STD


def _warp(x: torch.Tensor, theta: torch.Tensor, mode: str) -> torch.Tensor:
    """Affine-resample normalised images, filling uncovered pixels with black (0 before normalising)."""
    black = -MEAN / STD
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - black, grid, mode=mode, padding_mode="zeros", align_corners=False) + black


# The values a lever takes, each with what its refusal says.
_BOUNDS = {
    "probability": (lambda v: 0 <= v <= 1, "is a probability: it must be in [0, 1]"),
    "non-negative": (lambda v: v >= 0, "must be >= 0"),
    "below one": (lambda v: 0 <= v < 1, "must be in [0, 1)"),  # a factor 1 - scale > 0, a grey below white
}


def _lever(default: float = 0.0, bound: str = "non-negative", on: str = "geometry"):
    """A field that switches one augmentation on (0: off): `bound` names the values it takes
    (`_BOUNDS`), `on` what it changes: the "geometry" (the resampling) or the "pixels"."""
    return field(default=default, metadata={"bound": bound, "on": on})


@dataclass(frozen=True)
class Augment:
    """The training augmentation, computed for a whole batch at once. The defaults are the
    original study's per-sample pipeline: with probability `zoom_p` a sample is centre-cropped to
    `crop` x `crop` and resized back (bilinear, a 28/22 = 1.27x zoom), then every sample is rotated
    by an angle uniform in +-`degrees` (nearest, as torchvision's RandomRotation), black fill.
    Random numbers come from a CPU generator, so a seed gives the same batch on every device.

    Each lever is a field made by `_lever` (`LEVERS` lists them, in this order). The levers beyond
    the original are off at 0 and drawn after the numbers of those before them, so that a run
    without them is unchanged: first those on the geometry, then those on the pixels (in [0, 1]),
    each of which is applied to a random share of the batch.
    """

    zoom_p: float = _lever(0.1, "probability")
    crop: int = 22  # the zoom's crop, in pixels: a setting of `zoom_p`'s, not a lever
    degrees: float = _lever(15.0)
    # a shift of up to that many pixels in x and y (in the rotation's resampling)
    translate: float = _lever()
    # the digit's size times a factor uniform in 1 +- `scale` (in the same resampling)
    scale: float = _lever(bound="below one")
    # a horizontal shear uniform in +-`shear` (in the same resampling)
    shear: float = _lever()
    # elastic distortion (Simard et al. 2003): a random displacement field smoothed by a Gaussian
    # of sigma ELASTIC_SIGMA px and scaled by `elastic` (34 is their choice), bilinear
    elastic: float = _lever()
    # with this probability a stroke 1 px thicker or thinner (3x3 dilation or erosion, half each)
    thickness: float = _lever(bound="probability", on="pixels")
    # for half the images a Gaussian blur of sigma uniform in [0, `blur`] px
    blur: float = _lever(on="pixels")
    # for half the images the background lifted to a grey uniform in [0, `lift`] (ink stays
    # white): brighter, lower-contrast paper
    lift: float = _lever(bound="below one", on="pixels")
    # for half the images Gaussian noise of sigma uniform in [0, `noise`]
    noise: float = _lever(on="pixels")
    # with this probability a random rectangle (2-15 % of the image) filled with a random grey
    # (random erasing, Zhong et al. 2017)
    erase: float = _lever(bound="probability", on="pixels")

    def __post_init__(self):
        for f in fields(self):
            if "bound" in f.metadata:
                allowed, rule = _BOUNDS[f.metadata["bound"]]
                if not allowed(getattr(self, f.name)):
                    raise ValueError(f"{f.name} {rule}, not {getattr(self, f.name)}")

    @property
    def _pixel_levers(self) -> bool:
        return any(getattr(self, name) for name in PIXEL_LEVERS)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not any(getattr(self, name) for name in LEVERS):
            return x  # no augmentation: no resampling either
        n, g = x.shape[0], generator
        zoomed = (torch.rand(n, generator=g) < self.zoom_p).to(x.device)
        angle = ((torch.rand(n, generator=g) * 2 - 1) * math.radians(self.degrees)).to(x.device)
        if zoomed.any():
            s = self.crop / x.shape[-1]  # output pixel -> input pixel of the central crop
            theta = x.new_tensor([[s, 0.0, 0.0], [0.0, s, 0.0]]).expand(int(zoomed.sum()), 2, 3)
            x = x.clone()
            x[zoomed] = _warp(x[zoomed], theta, "bilinear")
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
        shift_x = shift_y = zero
        if self.translate:  # pixels -> normalised coordinates (the image spans 2 units)
            shift = (torch.rand(2, n, generator=g) * 2 - 1) * (2 * self.translate / x.shape[-1])
            shift_x, shift_y = shift.to(x.device)
        theta = torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)
        if self.scale or self.shear:  # output -> input: rotate after undoing the size and shear
            size = (1 + (torch.rand(n, generator=g) * 2 - 1) * self.scale).to(x.device)
            k = ((torch.rand(n, generator=g) * 2 - 1) * self.shear).to(x.device)
            extra = torch.stack([torch.stack([1 / size, k / size], 1),
                                 torch.stack([zero, 1 / size], 1)], 1)
            theta = torch.cat([theta[:, :, :2] @ extra, theta[:, :, 2:]], 2)
        x = _warp(x, theta.to(x.dtype), "nearest")
        if self.elastic:
            x = _elastic(x, self.elastic, g)
        return self._pixels(x, g) if self._pixel_levers else x

    def _pixels(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, dev = x.shape[0], x.device
        p = x * STD + MEAN  # [0, 1]

        def draw(*shape):
            return torch.rand(*shape, generator=g).to(dev)

        def chosen(share, values):  # per image: `values` where chosen, else the image unchanged
            return torch.where((draw(n) < share).view(n, 1, 1, 1), values, p)

        if self.thickness:
            thick = torch.where((draw(n) < 0.5).view(n, 1, 1, 1), F.max_pool2d(p, 3, 1, 1),
                                -F.max_pool2d(-p, 3, 1, 1))
            p = chosen(self.thickness, thick)
        if self.blur:
            sigma = (draw(n) * self.blur).clamp_min(1e-3)
            taps = torch.arange(-3, 4, dtype=p.dtype, device=dev)
            k = torch.exp(-taps ** 2 / (2 * sigma.view(n, 1) ** 2))
            k = k / k.sum(1, keepdim=True)
            q = F.conv2d(F.pad(p.view(1, n, *p.shape[2:]), (3, 3, 0, 0)), k.view(n, 1, 1, 7), groups=n)
            q = F.conv2d(F.pad(q, (0, 0, 3, 3)), k.view(n, 1, 7, 1), groups=n).view_as(p)
            p = chosen(0.5, q)
        if self.lift:
            b = (draw(n) * self.lift).view(n, 1, 1, 1)
            p = chosen(0.5, b + (1 - b) * p)
        if self.noise:
            sigma = (draw(n) * self.noise).view(n, 1, 1, 1)
            p = chosen(0.5, (p + sigma * torch.randn(p.shape, generator=g).to(dev)).clamp(0, 1))
        if self.erase:
            area = 0.02 + 0.13 * draw(n)
            aspect = torch.exp((draw(n) * 2 - 1) * math.log(3))
            size = p.shape[-1]
            h = (area * aspect).sqrt().mul(size).clamp(1, size)
            w = (area / aspect).sqrt().mul(size).clamp(1, size)
            top, left = draw(n) * (size - h), draw(n) * (size - w)
            grey = draw(n).view(n, 1, 1, 1)
            r = torch.arange(size, device=dev, dtype=p.dtype)
            inside = ((r.view(1, -1, 1) >= top.view(n, 1, 1)) & (r.view(1, -1, 1) < (top + h).view(n, 1, 1))
                      & (r.view(1, 1, -1) >= left.view(n, 1, 1)) & (r.view(1, 1, -1) < (left + w).view(n, 1, 1)))
            p = chosen(self.erase, torch.where(inside.unsqueeze(1), grey, p))
        return (p - MEAN) / STD


# The levers (every field made by `_lever`), in the order their numbers are drawn, and those of them
# on the pixels: adding a lever is adding its field and its step in `__call__` or `_pixels`.
LEVERS = tuple(f.name for f in fields(Augment) if "bound" in f.metadata)
PIXEL_LEVERS = tuple(f.name for f in fields(Augment) if f.metadata.get("on") == "pixels")

ELASTIC_SIGMA = 4.0  # px: the smoothing of the elastic displacement field (Simard et al. 2003)


def _elastic(x: torch.Tensor, alpha: float, g: torch.Generator) -> torch.Tensor:
    """Elastic distortion of normalised images: a uniform random displacement field per image,
    smoothed (sigma ELASTIC_SIGMA px) and scaled by `alpha` px, resampled bilinearly, black fill."""
    n, size = x.shape[0], x.shape[-1]
    field = (torch.rand(n, 2, size, size, generator=g) * 2 - 1).to(x.device, x.dtype)
    field = gaussian_blur(field.view(2 * n, 1, size, size), ELASTIC_SIGMA).view(n, 2, size, size)
    identity = F.affine_grid(torch.eye(2, 3, device=x.device, dtype=x.dtype).expand(n, 2, 3),
                             list(x.shape), align_corners=False)
    grid = identity + (alpha * 2 / size) * field.permute(0, 2, 3, 1)  # px -> normalised units
    black = -MEAN / STD
    return F.grid_sample(x - black, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + black


def _gauss_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    k = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur with black beyond the border."""
    k = _gauss_kernel(sigma).to(x.device, x.dtype)
    r = len(k) // 2
    x = F.conv2d(F.pad(x, (r, r, 0, 0)), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r)), k.view(1, 1, -1, 1))
