"""Analysis of operators and estimators: contraction certificates, exact moments, symbolic thresholds."""
