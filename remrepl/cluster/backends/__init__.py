"""Where workers run: the backend interface and local workers (base), SSH hosts (ssh), EC2 instances (ec2)."""
