"""Synthetic backbone features: Gaussian class clusters whose look changes between domains.

For tests and benchmarks of the learner before (and besides) real frozen features. In domain
d, class k's cells look like class perm_d(k) looked in the first domain, plus a shift common to
the domain (think: autumn lawn looks like summer soil, under a browner light); ``mix`` says how
far each class's look moves towards the other class's (1 = all the way). A classifier
fitted to one domain alone therefore gets the other wrong — finetuning forgets — while one
classifier can still get both right, because the domain shift tells the domains apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot.common.samples import LabelledCells, make_cells


@dataclass(frozen=True)
class DomainStream:
    feature_dim: int
    num_classes: int
    class_means: np.ndarray  # (K, C) in the first domain
    permutations: np.ndarray  # (D, K): in domain d, class k looks partly like class perm[d, k]
    mix: float
    shifts: np.ndarray  # (D, C)
    noise: float
    seasons: tuple[str, ...]

    def sample(self, domain: int, counts: np.ndarray | list[int], rng: np.random.Generator,
               recording: str = "", frame_size: int = 0) -> LabelledCells:
        """``counts[k]`` cells of class k in ``domain``; rows shuffled."""
        labels = np.repeat(np.arange(self.num_classes), counts).astype(np.uint8)
        rng.shuffle(labels)
        own = self.class_means[labels]
        other = self.class_means[self.permutations[domain, labels]]
        centre = (1 - self.mix) * own + self.mix * other + self.shifts[domain]
        x = centre + self.noise * rng.standard_normal((len(labels), self.feature_dim))
        return make_cells(x.astype(np.float32), labels, season=self.seasons[domain],
                          recording=recording or f"synthetic-{self.seasons[domain]}",
                          time_s=float(domain) * 86400 * 90)

    def sample_balanced(self, domain: int, per_class: int, rng: np.random.Generator,
                        ) -> LabelledCells:
        return self.sample(domain, [per_class] * self.num_classes, rng)


def make_domain_stream(
    feature_dim: int = 64, num_classes: int = 5, domains: int = 3, noise: float = 0.6,
    shift: float = 3.0, mix: float = 0.7, seed: int = 0,
    seasons: tuple[str, ...] = ("spring", "summer", "autumn", "winter"),
) -> DomainStream:
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((num_classes, feature_dim)) * 1.0
    perms = [np.arange(num_classes)]
    for _ in range(1, domains):
        perms.append(np.roll(np.arange(num_classes), len(perms)))  # no class keeps its look
    shifts = rng.standard_normal((domains, feature_dim))
    shifts *= shift / np.linalg.norm(shifts, axis=1, keepdims=True)  # |shift| = shift
    shifts[0] = 0.0
    return DomainStream(feature_dim, num_classes, means, np.array(perms), mix, shifts, noise,
                        tuple(seasons[:domains]) if domains <= len(seasons)
                        else tuple(f"domain{i}" for i in range(domains)))
