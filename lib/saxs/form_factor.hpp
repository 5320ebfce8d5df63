// Particle form factors P(q), normalised to P(0) = 1, for polydisperse spheres and randomly
// oriented cylinders (Guinier & Fournet 1955; Pedersen, Adv. Colloid Interface Sci. 70 (1997) 171).
#pragma once

#include <vector>

namespace anvil::saxs {

enum class ParticleShape { sphere, cylinder };
// Size distribution of the radius: Schulz (Kotlarchyk & Chen, J. Chem. Phys. 79 (1983) 2461) or
// Gaussian, both with relative width p = σ_R / R̄.
enum class SizeDistribution { schulz, gaussian };

struct FormFactorModel {
  ParticleShape shape = ParticleShape::sphere;
  SizeDistribution distribution = SizeDistribution::schulz;
  double radius_nm = 2.4;
  double polydispersity = 0.1;  // σ_R / R̄
  double length_nm = 20.0;      // cylinders only
};

// Monodisperse sphere amplitude 3(sin x − x cos x)/x³ at x = qR.
double sphere_amplitude(double x);

// P(q) of the model at each q (in the inverse unit of the radius); volume²-weighted over the
// size distribution and, for cylinders, averaged over orientations.
std::vector<double> form_factor(const FormFactorModel& model, const std::vector<double>& q);
double form_factor(const FormFactorModel& model, double q);

}  // namespace anvil::saxs
