"""Looking into the data and the trained models: the EDA and error analysis, the inductive-bias probes, and
attribution (Grad-CAM, occlusion)."""
