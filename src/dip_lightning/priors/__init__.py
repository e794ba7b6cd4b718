"""Parametrisations of the restored image x: the deep prior x = f_theta(z), or the pixels themselves."""
