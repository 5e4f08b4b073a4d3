#!/bin/bash
systemctl start haproxy
