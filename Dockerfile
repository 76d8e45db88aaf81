# The uclab image (docs/docker.md). Installs the project through ./setup, as a bare machine does.
#   docker build -t uclab .                                   where a registry is reachable
#   python -m lab.runtime.image                               anywhere: the base from debootstrap,
#                                                             the host's CA bundle, a cached tag
# Targets: runtime (the default, last: what the lab runs), test (+ referees, dev tools, tests),
#          vagrant (+ sshd and the vagrant user, for `vagrant up --provider=docker`).
# lab.runtime.image hands docker only the stages a target needs (the legacy builder runs every
# stage before its target; BuildKit skips unneeded ones by itself).
# Optional build inputs, used when present in the context: extra-ca.crt (CA certificates to
# trust, e.g. a TLS proxy's) and wheelhouse/*.whl (then pip installs offline).
ARG BASE=debian:bookworm-slim

# packages and Python dependencies: rebuilt only when setup, pyproject.toml or the optional
# inputs change (the code is copied in the stages below, so a change of it rebuilds one layer)
FROM ${BASE} AS system
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
WORKDIR /opt/uclab
COPY setup ./
RUN ./setup --image runtime --step packages
COPY setup extra-ca.cr[t] /usr/local/share/ca-certificates/uclab/
COPY setup wheelhous[e] /opt/wheelhouse/
COPY pyproject.toml ./
RUN ./setup --image runtime --step deps

FROM system AS vagrant-system
RUN ./setup --image vagrant --step packages
# Vagrant's public insecure key (keys/vagrant.pub of every Vagrant): `vagrant ssh` logs in with it
ARG VAGRANT_KEY="ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key"
RUN useradd --create-home --shell /bin/bash vagrant \
 && install -d -m 700 -o vagrant -g vagrant /home/vagrant/.ssh \
 && echo "$VAGRANT_KEY" > /home/vagrant/.ssh/authorized_keys \
 && chown vagrant:vagrant /home/vagrant/.ssh/authorized_keys && chmod 600 /home/vagrant/.ssh/authorized_keys \
 && echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/vagrant \
 && chmod 440 /etc/sudoers.d/vagrant && mkdir -p /run/sshd

FROM vagrant-system AS vagrant
COPY lab ./lab
COPY nodes ./nodes
COPY topologies ./topologies
COPY scenarios ./scenarios
RUN ./setup --image vagrant --step project
EXPOSE 22
CMD ["/usr/sbin/sshd", "-D", "-e"]

FROM system AS test-system
RUN ./setup --image test --step packages && ./setup --image test --step deps

FROM test-system AS test
COPY lab ./lab
COPY nodes ./nodes
COPY topologies ./topologies
COPY scenarios ./scenarios
COPY tests ./tests
COPY bench ./bench
RUN ./setup --image test --step project
ENTRYPOINT ["uclab"]
CMD ["--help"]

# the default target (last): what the lab runs
FROM system AS runtime
COPY lab ./lab
COPY nodes ./nodes
COPY topologies ./topologies
COPY scenarios ./scenarios
RUN ./setup --image runtime --step project
ENTRYPOINT ["uclab"]
CMD ["--help"]
